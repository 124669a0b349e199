"""The hot path: a URL served before, answered from memory before any routing."""

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote_to_bytes

from twisted.internet.interfaces import IReactorTime
from twisted.web.resource import Resource
from twisted.web.server import Request

from pypipin.badges.parsing import BadgeRequest, key
from pypipin.metrics import Counters
from pypipin.store.lru import LRU
from pypipin.web.encoding import body_for
from pypipin.web.state import RequestState, state

MAX_URI = 8192  # Twisted itself closes the connection past 16 KiB of request line and headers


# the hot path's memory of URLs spelt otherwise than their key (entries, bytes, seconds): a flood of
# such URLs pushes out only this memory, and their spelling is parsed again
SPELLINGS = (10_000, 4 * 1024 * 1024, 3600.0)


class Front(Resource):
    """Answers a URL served before straight from memory, before any routing.

    The hot path is keyed by a badge URL's canonical form (``parsing.key``): a URL already in that
    form (most are) is found at the first look-up, any other through the key its query was
    parsed into when it was last seen (``SPELLINGS``). A URL parsed here and not found goes on
    with what it was parsed into (its state's ``wanted``), so the routes do not parse it again.
    ``in_flight`` counts the requests passed on to the app and not finished yet.
    """

    isLeaf = True

    def __init__(
        self,
        clock: IReactorTime,
        hot: LRU,
        inner: Resource,
        counters: Counters,
        parse: Callable[[bytes], BadgeRequest | None],
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Resource.__init__ has no hints
        self._clock = clock
        self._hot = hot
        self._inner = inner
        self._parse = parse
        self._spellings = LRU(clock, *SPELLINGS[:2])  # URL -> its hot key, for URLs not in their key's form
        self._cache = counters.cache
        self.in_flight = 0

    def render(self, request: Request) -> Any:
        about = state(request)
        about.started = self._clock.seconds()
        request.setHeader(b"X-Content-Type-Options", b"nosniff")
        if len(request.uri) > MAX_URI:
            request.setResponseCode(414)
            request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
            return body_for(request, b"URI too long\n")
        if request.method in (b"GET", b"HEAD"):
            hit = self._hot.get(request.uri)
            if hit is None and b"?" in request.uri:  # maybe another spelling of a badge's URL
                canonical = self._canonical(request.uri, about)
                hit = None if canonical is None or canonical == request.uri else self._hot.get(canonical)
            if hit is not None:
                self._cache["hot", "hit"] += 1
                about.badge, about.format, about.cache = hit.kind, hit.format, "hot"
                return hit.write(request)
        self._cache["hot", "miss"] += 1
        if not _readable(request.path):
            request.setResponseCode(400)
            request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
            return b"The path is not UTF-8 text, or holds a NUL byte\n"
        self.in_flight += 1
        request.notifyFinish().addBoth(self._finished)
        return self._inner.render(request)

    def _finished(self, _: object) -> None:
        self.in_flight -= 1

    def _canonical(self, uri: bytes, about: RequestState) -> bytes | None:
        """The hot key of a URL with a query (None if it is no badge), parsed once while it is remembered;
        what it was parsed into is kept in ``about``."""
        known: bytes | None = self._spellings.get(uri)
        if known is None:
            path = uri.partition(b"?")[0]
            about.wanted = wanted = self._parse(uri)
            known = None if wanted is None else key(path, wanted)
            if known is not None and known != uri:
                self._spellings.set(uri, known, SPELLINGS[2])
        return known


def _readable(path: bytes) -> bool:
    """True when the decoded path is UTF-8 text without NUL bytes (what routing and files can take)."""
    raw = unquote_to_bytes(path)
    if b"\x00" in raw:
        return False
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def forget(hot: LRU, index: str, names: Iterable[str] | None) -> None:
    """Drop from the hot path every response about one of the packages ``names`` of ``index`` (None:
    every response). Each response knows its package: nothing is parsed again."""
    wanted = None if names is None else set(names)
    for uri, response in list(hot.items()):
        if wanted is None or (response.index == index and response.package in wanted):
            hot.pop(uri)
