"""The fixtures every test file may use: redis-server on a free port, the fake upstream, daemons, varnishd,
a password-protected index, and the whole app in memory."""

import os
from collections.abc import Iterator
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor

from tests.support.fakepypi import SECRET, FakeUpstream, PrivateIndex
from tests.support.loopback import serve
from tests.support.processes import VARNISHD, Daemon, RedisServer, Varnish
from tests.support.stack import Stack

PROCESS_FIXTURES = {"redis_server", "redis", "start_daemon", "varnish"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that starts a process through a fixture is marked ``processes`` even if its author forgot."""
    for item in items:
        if PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())) and not item.get_closest_marker(
            "processes"
        ):
            item.add_marker(pytest.mark.processes)


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

    def start(redis_url: str = "none", *extra: str, workers: int = 1) -> Daemon:
        daemon = Daemon(upstream.url, redis_url, *extra, workers=workers)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


@pytest.fixture
def varnish() -> Iterator[Any]:
    """Starts varnishd with a VCL of conf/ (``varnish("varnish.vcl", {8888: port})``) and stops it after;
    ``healthy=True`` waits for its backends' probes to pass."""
    if not os.path.exists(VARNISHD):
        pytest.skip("varnishd is not installed (.ci/run installs Debian's varnish)")
    started: list[Varnish] = []

    def start(name: str, ports: dict[int, int], healthy: bool = False) -> str:
        started.append(Varnish(name, ports))
        if healthy:
            started[-1].wait_healthy()
        return started[-1].url

    yield start
    for each in started:
        each.stop()


@pytest.fixture
def private() -> Iterator[PrivateIndex]:
    """A password-protected index on a free loopback port."""
    fake = PrivateIndex("ci-bot", SECRET)
    port = serve(fake)
    yield fake
    pytest_twisted.blockon(port.stopListening())


@pytest.fixture
def stack() -> Stack:
    """The app in memory, its upstream knowing ``demo``."""
    made = Stack("--upstream-timeout", "2")
    made.upstream.add("demo")
    return made
