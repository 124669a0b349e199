"""Helpers shared by the test modules (no test module imports another).

``Stack`` is the whole app in memory: the Klein app and its hot path over ``Packages``
and ``Upstream``, which reach the fake PyPI through ``treq.testing.StubTreq``, with a
``FakeRenderer``, a ``MemoryStore`` and one ``task.Clock``. Nothing in it touches a
socket or the real clock.
"""

import http.client
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import treq
from hypothesis import strategies as st
from treq.client import HTTPClient
from treq.testing import RequestTraversalAgent, StubTreq
from twisted.internet import defer, task
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.web.client import Agent
from twisted.python.failure import Failure

from fakepypi import FakeUpstream
from pypipin.badges.kinds import KINDS
from pypipin.store.memory import MemoryStore, Store
from pypipin.metrics import Counters, MetricsPage, registry
from pypipin.options import Options
from pypipin.renderer.drawing import RendererDown, RenderFailed
from pypipin.settings import Settings
from pypipin.wiring import app, lru

# one pypip.in URL name of every badge
BADGE_NAMES = [next(iter(kind.original)) for kind in KINDS.values()]
CLASSIFIERS = [
    "Development Status :: 5 - Production/Stable",
    "License :: OSI Approved :: MIT License",
    "Programming Language :: Python :: 3",
    "Programming Language :: Python :: 3.12",
    "Programming Language :: Python :: 3.9",
    "Programming Language :: Python :: Implementation :: CPython",
    "Programming Language :: Python :: Implementation :: PyPy",
]


class FakeRenderer:
    """Stands in for the Node renderer in memory: an image is the spec it was drawn from, as JSON.

    ``calls`` lists the specs drawn; ``refuse`` is a message no spec may carry (a refusal,
    as node refuses a bad logo); ``down`` makes every render fail as a dead renderer does;
    ``hold`` (a Deferred) keeps renders waiting until it fires.
    """

    wait = 5.0

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.refuse: str | None = None
        self.down = False
        self.hold: defer.Deferred[None] | None = None

    async def render(self, spec: dict[str, Any]) -> bytes:
        self.calls.append(spec)
        if self.hold is not None:
            await self.hold
        if self.down:
            raise RendererDown("connection refused")
        if self.refuse is not None and spec["message"] == self.refuse:
            raise RenderFailed("refused")
        return drawn(spec)

    async def healthy(self) -> bool:
        return not self.down

    def problem(self) -> str | None:
        """Nothing keeps this one from starting."""
        return None

    def problem(self) -> str | None:
        """Why it cannot start at all: never, for this stand-in."""
        return None


def drawn(spec: dict[str, Any]) -> bytes:
    """The bytes ``FakeRenderer`` draws for ``spec``."""
    return json.dumps(spec, sort_keys=True).encode()


@dataclass
class Answer:
    """One in-memory response."""

    code: int
    headers: Any  # twisted.web.http_headers.Headers
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.headers.getRawHeaders(name)
        return values[0] if values else None

    @property
    def shown(self) -> list[str]:
        """Label and message of the badge (``FakeRenderer``'s image or the JSON format)."""
        document = json.loads(self.body)
        return [document["label"], document["message"]]


class Stack:
    """The whole app in memory; ``args`` are daemon options (``"--pypi-ttl", "1"``).

    Stacks made with one ``store`` (and ``clock``) are daemons sharing one Redis.
    """

    def __init__(self, *args: str, store: Store | None = None, clock: task.Clock | None = None,
                 upstream: FakeUpstream | None = None) -> None:
        self.clock = clock or task.Clock()
        self.clock.advance(1_000_000)  # timestamps far from zero, as on a real clock
        self.upstream = upstream or FakeUpstream(self.clock)
        self.options = Options()
        self.options.parseOptions(
            ["--pypi-url", "http://pypi.test/pypi", "--stats-url", "http://pypi.test/api", "--redis", "none", *args]
        )
        self.settings = Settings.from_options(self.options)
        self.counters = Counters()
        self.store = store or MemoryStore(lru(self.clock, self.settings))
        self.renderer = FakeRenderer()
        self._pypi = RequestTraversalAgent(self.upstream)  # the fake PyPI in memory; treq asks for gzip as in production
        metrics = MetricsPage(registry(self.counters), self.settings.metrics.allow,
                              self.settings.listener.trusted_proxies)
        self.hot = lru(self.clock, self.settings)  # the hot path's responses
        self.app = app(self.settings, self.clock, self.store, HTTPClient(self._pypi), self.renderer,
                       self.counters, metrics, hot=self.hot, drawn=lru(self.clock, self.settings))
        self.resource = self.app.resource(self.clock)
        self._client = StubTreq(self.resource)

    def request(self, path: str, method: str = "GET", headers: dict[bytes, list[bytes]] | None = None
                ) -> defer.Deferred[Answer]:
        """Send a request; ``settle()`` it to get the ``Answer``."""

        async def send() -> Answer:
            response = await self._client.request(method, "http://badges.test" + path, headers=headers)
            return Answer(response.code, response.headers, await treq.content(response))

        return defer.ensureDeferred(send())

    def get(self, path: str, seconds: float = 0.0, **kwargs: Any) -> Answer:
        """The answer to one request, letting up to ``seconds`` pass on the clock."""
        return self.settle(self.request(path, **kwargs), seconds)

    def burst(self, paths: list[str], seconds: float = 0.0) -> list[Answer]:
        """The answers to requests all sent at once."""
        return self.settle(defer.gatherResults([self.request(path) for path in paths]), seconds)  # type: ignore

    def settle(self, d: defer.Deferred[Any], seconds: float = 0.0, step: float = 0.05) -> Any:
        """``d``'s result: the in-memory connections pumped, the clock advanced ``step`` at a time up to ``seconds``."""
        result: list[Any] = []
        d.addBoth(result.append)
        waited = 0.0
        while True:
            self._pypi.flush()
            self._client.flush()
            if result or waited >= seconds:
                break
            self.clock.advance(step)
            waited += step
        assert result, f"no answer within {seconds} s"
        if isinstance(result[0], Failure):
            result[0].raiseException()
        return result[0]

    def advance(self, seconds: float) -> None:
        """Let time pass (upstream delays, timeouts, TTLs), pumping the connections as it goes."""
        never: defer.Deferred[None] = defer.Deferred()
        self.clock.callLater(seconds, never.callback, None)
        self.settle(never, seconds + 0.05)


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
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15,
                                            source_address=(source, 0))
    try:
        connection.request("GET", target, headers={"Host": "badges.test"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# hostile inputs for property tests (hypothesis), in memory and against a real daemon
hostile_segment = st.one_of(
    st.text(max_size=40).map(lambda text: quote(text, safe="")),
    st.text(alphabet=st.characters(codec="latin-1"), max_size=30).map(lambda text: quote(text, safe="/%.")),
    st.sampled_from(["..", "%2e%2e", "%2F", "a%2Fb", "%00", "%0d%0aSet-Cookie:%20x=1", "%ff%fe", "zope.interface",
                     "Django", "pkg0", "PKG_0", "<svg onload=alert(1)>", "x" * 10000, "%", "%zz"]),
)
hostile_value = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["<script>alert(1)</script>", "\" onload=\"x", "]]>&amp;", "%ff", "\x00", "a\r\nb", "x" * 5000,
                     "flat", "for-the-badge", "red", "#4c1", "4", "-1", "99999999999999999999", "data:image/svg+xml;base64,PHN2Zz4=",
                     "javascript:alert(1)", "\u202e\u0000\ufeff"]),
)
query_key = st.sampled_from(["style", "label", "text", "color", "colorA", "colorB", "labelColor", "cacheSeconds",
                             "period", "scale", "logo", "include_prereleases", "junk", ""])
# PyPI and pypistats are asked by normal names only
NORMAL_UPSTREAM_PATH = re.compile(r"^/(pypi/[a-z0-9]+(-[a-z0-9]+)*/json|api/packages/[a-z0-9]+(-[a-z0-9]+)*/recent)$")

SVG_NS = 'xmlns="http://www.w3.org/2000/svg"'
# the two kinds of logo of issue 10: one made node die, the other grew it without bound
TURBULENCE = (
    f'<svg {SVG_NS} width="14" height="14"><filter id="f" filterUnits="userSpaceOnUse" x="-90000" y="-90000" '
    'width="99999" height="99999"><feTurbulence baseFrequency="0.9" numOctaves="10"/></filter>'
    '<rect width="14" height="14" filter="url(#f)"/></svg>'
)
FLOOD = (  # without a memory ceiling node's RSS grows ~160 MB/s drawing it, and goes on
    f'<svg {SVG_NS} viewBox="0 0 1 1"><filter id="f" filterUnits="userSpaceOnUse" x="-1150" y="-1150" width="2300" '
    'height="2300"><feFlood/></filter><rect width="1" height="1" filter="url(#f)"/></svg>'
)

# /metrics as an attacker writes it (raw request targets): the app routes //, %2f, \ and %6d to it
METRICS_TARGETS = [b"/metrics", b"//metrics", b"///metrics", b"/%6detrics", b"/%6Detrics", b"/%2fmetrics",
                   b"/%2Fmetrics", b"\\metrics", b"/metrics/", b"/./metrics", b"/%2e/metrics",
                   b"/a/../metrics", b"/metrics?x", b"/metrics?", b"/metrics#x", b"/METRICS", b"/Metrics",
                   b"/%4detrics", b"/metrics;x", b"/metrics%20", b"/%256detrics",
                   b"http://badges.test/metrics"]

def clip_chain(depth: int, fan_out: int) -> str:
    """Issue 17's logo: clip paths of ``fan_out`` shapes, each shape clipped by the next clip path."""
    def level(n: int) -> str:
        clipped = f' clip-path="url(#c{n + 1})"' if n + 1 < depth else ""
        return f'<clipPath id="c{n}">' + f'<rect width="24" height="24"{clipped}/>' * fan_out + "</clipPath>"

    levels = "".join(level(n) for n in range(depth))
    drawn = '<rect width="24" height="24" clip-path="url(#c0)"/>'
    return f'<svg {SVG_NS} viewBox="0 0 24 24">{levels}{drawn}</svg>'
