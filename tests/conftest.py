"""Real parts for the tests: redis-server on a free port, the fake upstream, the daemon."""

from typing import Any, Iterator

import os

import pytest
import pytest_twisted
import treq
from treq.client import HTTPClient
from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.web.client import Agent

from fakepypi import FakeUpstream
from processes import VARNISHD, Daemon, RedisServer, Varnish



@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    if not RedisServer.available:
        pytest.skip("redis-server is not installed (scripts/test installs it from Debian)")
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture
def redis(redis_server: RedisServer) -> RedisServer:
    """The session's redis-server, emptied for this test (and started again if a test killed it)."""
    if redis_server.process is None:
        redis_server.start()
    redis_server.command("FLUSHALL")
    return redis_server


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream()
    port = reactor.listenTCP(0, fake.site(), interface="127.0.0.1")
    fake.url = f"http://127.0.0.1:{port.getHost().port}"
    yield fake
    fake.release_hung()
    pytest_twisted.blockon(port.stopListening())


@pytest.fixture
def start_daemon(upstream: FakeUpstream) -> Iterator[Any]:
    """Starts daemons on the fake upstream; stops them all at the end of the test."""
    started: list[Daemon] = []

    def start(redis_url: str = "none", *extra: str) -> Daemon:
        daemon = Daemon(upstream.url, redis_url, *extra)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


async def get(url: str, **kwargs: Any) -> tuple[Any, bytes]:
    """GET a URL; the response and its body."""
    response = await treq.get(url, **kwargs)
    return response, await response.content()


class _From:
    """Connects from a given loopback address."""

    def __init__(self, source: str) -> None:
        self._source = source

    def endpointForURI(self, uri: Any) -> TCP4ClientEndpoint:
        return TCP4ClientEndpoint(reactor, uri.host.decode(), uri.port, bindAddress=(self._source, 0))


async def get_from(source: str, url: str) -> tuple[Any, bytes]:
    """GET a URL from another loopback address (127.0.0.2, ...), to play another client."""
    response = await HTTPClient(Agent.usingEndpointFactory(reactor, _From(source))).get(url)
    return response, await response.content()


@pytest.fixture
def varnish() -> Iterator[Any]:
    """Starts varnishd with a VCL of conf/ (``varnish("varnish.vcl", {8888: port})``) and stops it after."""
    if not os.path.exists(VARNISHD):
        pytest.skip("varnishd is not installed (.ci/run installs Debian's varnish)")
    started: list[Varnish] = []

    def start(name: str, ports: dict[int, int]) -> str:
        started.append(Varnish(name, ports))
        return started[-1].url

    yield start
    for each in started:
        each.stop()
