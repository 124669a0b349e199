"""Loopback: requests to real daemons, from other loopback addresses to play other clients; a fake served on a
free port; waiting on the reactor."""

import http.client
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlsplit

import treq
from treq.client import HTTPClient
from twisted.internet import defer, task
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.web.client import Agent
from twisted.web.server import Site

from tests.support.fakepypi import FakeUpstream


def svg_text(body: bytes) -> list[str]:
    """The texts an SVG badge shows (badge-maker draws each once as shadow, once as text)."""
    root = ET.fromstring(body)
    texts = [el.text for el in root.iter("{http://www.w3.org/2000/svg}text") if el.text]
    return list(dict.fromkeys(texts))


def sleep(seconds: float) -> defer.Deferred[None]:
    """Wait on the real reactor (for tests of real processes)."""
    from twisted.internet import reactor

    return task.deferLater(reactor, seconds, lambda: None)


async def get(url: str, **kwargs: Any) -> tuple[Any, bytes]:
    """GET a URL over the network; the response and its body."""
    response = await treq.get(url, **kwargs)
    return response, await response.content()


class _From:
    """Connects from a given loopback address."""

    def __init__(self, source: str) -> None:
        self._source = source

    def endpointForURI(self, uri: Any) -> TCP4ClientEndpoint:
        from twisted.internet import reactor

        return TCP4ClientEndpoint(reactor, uri.host.decode(), uri.port, bindAddress=(self._source, 0))


async def get_from(source: str, url: str) -> tuple[Any, bytes]:
    """GET a URL from another loopback address (127.0.0.2, ...), to play another client."""
    from twisted.internet import reactor

    response = await HTTPClient(Agent.usingEndpointFactory(reactor, _From(source))).get(url)
    return response, await response.content()


def raw_get_from(source: str, url: str, target: str) -> tuple[int, bytes]:
    """A GET of the request target as written (no client library normalises it) from ``source``;
    blocking (from a test on the reactor: ``deferToThread``)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(
        parts.hostname, parts.port, timeout=15, source_address=(source, 0)
    )
    try:
        connection.request("GET", target, headers={"Host": "badges.test"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def serve(fake: FakeUpstream) -> Any:
    """``fake`` on a free loopback port (its ``url``); the listening port, to stop."""
    from twisted.internet import reactor

    port = reactor.listenTCP(0, Site(fake), interface="127.0.0.1")
    fake.url = f"http://127.0.0.1:{port.getHost().port}"
    return port
