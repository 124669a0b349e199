"""Helpers shared by the test modules (no test module imports another).

``Stack`` is the whole app in memory: the Klein app and its hot path over ``Packages``
and ``Upstream``, which reach the fake PyPI through ``treq.testing.StubTreq``, with a
``FakeRenderer``, a ``MemoryStore`` and one ``task.Clock``. Nothing in it touches a
socket or the real clock.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import ip_network
from typing import Any

import treq
from treq.client import HTTPClient
from treq.testing import RequestTraversalAgent, StubTreq
from twisted.internet import defer, task
from twisted.python.failure import Failure

from pypipin.badges.kinds import KINDS
from pypipin.metrics import Counters, MetricsPage, registry
from pypipin.options import Options
from pypipin.renderer.drawing import Abandoned, RendererDown, RenderFailed
from pypipin.settings import Settings
from pypipin.store.memory import MemoryStore, Store
from pypipin.wiring import app, lru
from tests.support.fakepypi import FakeUpstream

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
    slots = None  # no cap on renders at once: the real renderer's slots are tested with it

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.refuse: str | None = None
        self.down = False
        self.hold: defer.Deferred[None] | None = None

    async def render(
        self, spec: dict[str, Any], spent: float = 0.0, wanted: Callable[[], bool] = lambda: True
    ) -> bytes:
        if not wanted():
            raise Abandoned()
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

    def __init__(
        self,
        *args: str,
        store: Store | None = None,
        clock: task.Clock | None = None,
        upstream: FakeUpstream | None = None,
    ) -> None:
        self.clock = clock or task.Clock()
        self.clock.advance(1_000_000)  # timestamps far from zero, as on a real clock
        self.upstream = upstream or FakeUpstream(self.clock)
        self.options = Options()
        self.options.parseOptions(
            [
                "--pypi-url",
                "http://pypi.test/pypi",
                "--stats-url",
                "http://pypi.test/api",
                "--redis",
                "none",
                "--downloads-source",
                "pypistats",
                *args,
            ]
        )
        self.settings = Settings.from_options(self.options)
        self.counters = Counters()
        self.store = store or MemoryStore(lru(self.clock, self.settings))
        self.renderer = FakeRenderer()
        self._pypi = RequestTraversalAgent(
            self.upstream
        )  # the fake PyPI in memory; treq asks for gzip as in production
        metrics = MetricsPage(
            registry(self.counters), self.settings.metrics.allow, self.settings.listener.trusted_proxies
        )
        self.hot = lru(self.clock, self.settings)  # the hot path's responses
        self.app = app(
            self.settings,
            self.clock,
            self.store,
            HTTPClient(self._pypi),
            self.renderer,
            self.counters,
            metrics,
            hot=self.hot,
            drawn=lru(self.clock, self.settings),
        )
        self.resource = self.app.resource()
        self._client = StubTreq(self.resource)

    def request(
        self, path: str, method: str = "GET", headers: dict[bytes, list[bytes]] | None = None
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
        """``d``'s result: the in-memory connections pumped, the clock advanced ``step`` at a time up to
        ``seconds``."""
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


def parsed(*args: str) -> Options:
    options = Options()
    options.parseOptions(list(args))
    return options


PROXIES = (ip_network("127.0.0.1/32"), ip_network("10.0.0.0/8"), ip_network("::1/128"))


DJANGO = ["Framework :: Django :: 4.2", "Framework :: Django :: 5.0"]
