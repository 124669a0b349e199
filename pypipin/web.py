"""The HTTP face: badge routes, error badges, response headers and the hot path."""

import hashlib
import json
from functools import partial
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping
from urllib.parse import unquote_to_bytes

from klein import Klein
from twisted.internet.interfaces import IReactorTime
from twisted.web.iweb import IRequest
from twisted.web.pages import notFound
from twisted.web.resource import Resource
from twisted.web.static import File

from pypipin import home, lifetimes
from pypipin.cache import LRU, Store
from pypipin.encoding import COMPRESSED_FORMATS, body_for, choose, compress, etag_matches
from pypipin.images import Drawer, Images
from pypipin.indexes import DEFAULT, Index
from pypipin.badges import ERRORS, Outcome
from pypipin.limits import Account, Budgets, OverBudget
from pypipin.lifetimes import HOME_MAX_AGE, REFUSED, STATIC_MAX_AGE, cache_control
from pypipin.metrics import Counters
from pypipin.packages import Data, Packages
from pypipin.renderer import RendererDown, RenderFailed
from pypipin.request import FORMATS, BadgeRequest, key, parse, query
from pypipin.state import RequestState, state
from pypipin.upstream import NotFound, RateLimited, Unavailable

MAX_URI = 8192  # Twisted itself closes the connection past 16 KiB of request line and headers
# the hot path's memory of URLs spelt otherwise than their key (entries, bytes, seconds): a flood of
# such URLs pushes out only this memory, and their spelling is parsed again
SPELLINGS = (10_000, 4 * 1024 * 1024, 3600.0)
OVER_BUDGET_LABEL = "pypipin"  # the one label of the badge a client over budget gets
SVG_POLICY = b"default-src 'none'; style-src 'unsafe-inline'"


@dataclass(frozen=True)
class Response:
    """A finished badge response, ready to be written again and again."""

    body: bytes
    gzipped: bytes | None  # for SVG and JSON when that is smaller, made once
    content_type: bytes
    cache_control: bytes
    etag: bytes  # of the plain body
    gz_etag: bytes  # of the gzipped body: the plain one's, ending in -gz
    kind: str  # for the metrics
    format: str

    def __len__(self) -> int:
        return len(self.body) + len(self.gzipped or b"") + len(self.cache_control) + 64

    def write(self, request: IRequest) -> bytes:
        body, gzipped = choose(request, self.body, self.gzipped)
        etag = self.gz_etag if gzipped else self.etag
        request.setHeader(b"Content-Type", self.content_type)
        request.setHeader(b"Cache-Control", self.cache_control)
        request.setHeader(b"ETag", etag)
        request.setHeader(b"Access-Control-Allow-Origin", b"*")
        if self.format == "svg":  # an SVG opened on its own may run nothing and load nothing
            request.setHeader(b"Content-Security-Policy", SVG_POLICY)
        if etag_matches(request.getHeader(b"If-None-Match"), etag):
            request.setResponseCode(304)
            return b""
        return body_for(request, body)


def respond(body: bytes, wanted: BadgeRequest, caching: bytes) -> Response:
    """``caching``: the response's ``Cache-Control``."""
    digest = hashlib.sha256(body).hexdigest()[:32].encode()
    gzipped = compress(body) if wanted.format in COMPRESSED_FORMATS else None
    return Response(body, gzipped, FORMATS[wanted.format].encode(), caching, b'"%s"' % digest,
                    b'"%s-gz"' % digest, wanted.kind.name, wanted.format)


class Front(Resource):
    """Answers a URL served before straight from memory, before any routing.

    The hot path is keyed by a badge URL's canonical form (``hot_key``): a URL already in that
    form (most are) is found at the first look-up, any other through the key its query was
    parsed into when it was last seen (``SPELLINGS``).
    ``in_flight`` counts the requests passed on to the app and not finished yet.
    """

    isLeaf = True

    def __init__(self, clock: IReactorTime, hot: LRU, inner: Resource, counters: Counters,
                 hot_key: Callable[[bytes], bytes | None]) -> None:
        super().__init__()
        self._clock = clock
        self._hot = hot
        self._inner = inner
        self._hot_key = hot_key
        self._spellings = LRU(clock, *SPELLINGS[:2])  # URL -> its hot key, for URLs not in their key's form
        self._cache = counters.cache
        self.in_flight = 0

    def render(self, request: IRequest) -> Any:
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
                canonical = self._canonical(request.uri)
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

    def _canonical(self, uri: bytes) -> bytes | None:
        """The hot key of a URL with a query (None if it is no badge), parsed once while it is remembered."""
        known = self._spellings.get(uri)
        if known is None:
            known = self._hot_key(uri)
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


class _Static(File):
    """The page's assets, whole: a folder is not listed, and Range is ignored."""

    def directoryListing(self) -> Resource:
        return notFound()

    def render_GET(self, request: IRequest) -> Any:
        # Twisted's range producers fail on some (100 x "0-", "-99999999"), leaving the response hanging
        request.requestHeaders.removeHeader(b"Range")
        body = super().render_GET(request)
        if not request.startedWriting:
            request.setHeader(b"Accept-Ranges", b"none")
        return body

    render_HEAD = render_GET


class Badges:
    """The Klein app: turns badge URLs into images, through the caches."""

    app = Klein()

    def __init__(
        self,
        clock: IReactorTime,
        packages: Packages,
        images: Images,
        renderer: Drawer,
        store: Store,
        hot: LRU,
        counters: Counters,
        metrics: Resource,
        budgets: Budgets,
        indexes: Mapping[str, Index] | None = None,
    ) -> None:
        self._clock = clock
        self._budgets = budgets
        self._refusals: dict[tuple[str, str], Response] = {}  # (kind, format): the refusal, made once
        self._counters = counters
        self._metrics = metrics
        self._indexes = indexes or {}
        self._home = home.page(list(self._indexes) or [DEFAULT])
        self._home_gzipped = compress(self._home)
        self._packages = packages
        self._images = images
        self._renderer = renderer  # for /health
        self._store = store  # for /health
        self._hot = hot

    def resource(self) -> Front:
        return Front(self._clock, self._hot, self.app.resource(), self._counters, self.hot_key)

    def hot_key(self, uri: bytes) -> bytes | None:
        """The hot-path key of a badge URL (``request.key``), None for a URL that is no badge."""
        path, _, raw = uri.partition(b"?")
        wanted = parse(path, query(raw), self._indexes)
        return None if wanted is None else key(path, wanted)

    @app.route("/health")
    async def health(self, request: IRequest) -> bytes:
        """200 with each dependency's state (``degraded`` without Redis); 503 when no badge can be drawn."""
        problem = self._renderer.problem()
        renderer = problem is None and await self._renderer.healthy()
        request.setResponseCode(200 if renderer else 503)
        request.setHeader(b"Content-Type", b"application/json")
        request.setHeader(b"Cache-Control", b"no-store")
        return json.dumps(
            {
                "renderer": "up" if renderer else "down",
                "renderer_problem": problem,
                "cache": self._store.state,
                "cache_error": self._store.reason,
                "degraded": self._store.reason is not None,
                "last_upstream_success": self._counters.last_ok,
                "indexes": {name: self._counters.last_ok.get(name) for name in self._indexes},
            }
        ).encode()

    @app.route("/metrics")
    def metrics(self, request: IRequest) -> Resource:
        return self._metrics

    @app.route("/")
    def home(self, request: IRequest) -> bytes:
        request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
        request.setHeader(b"Cache-Control", b"public, max-age=%d" % HOME_MAX_AGE)
        return body_for(request, choose(request, self._home, self._home_gzipped)[0])

    @app.route("/static/", branch=True)
    def static(self, request: IRequest) -> Resource:
        request.setHeader(b"Cache-Control", b"public, max-age=%d" % STATIC_MAX_AGE)
        return _Static(home.STATIC_DIR)

    @app.route("/<path:_>")
    async def badge(self, request: IRequest, _: str) -> bytes:
        wanted = parse(request.path, query(request.uri.partition(b"?")[2]), self._indexes)
        if wanted is None:
            request.setResponseCode(404)
            request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
            return b"Not a badge URL. Badges live at /<badge>/<package>/badge.svg\n"
        about = state(request)
        about.badge, about.format = wanted.kind.name, wanted.format
        try:
            response, keep_for = await self.answer(wanted, self._budgets.client(request), about)
        except (RendererDown, RenderFailed):  # no image could be drawn, not even an error badge
            request.setResponseCode(503)
            request.setHeader(b"Retry-After", b"1")
            request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
            return b"The badge renderer is not drawing right now (restarting?); try again in a second.\n"
        if keep_for > 0:
            self._hot.set(key(request.path, wanted), response, keep_for)
        return response.write(request)

    async def answer(self, wanted: BadgeRequest, client: str,
                     about: RequestState | None = None) -> tuple[Response, float]:
        """The response to a badge request, and how long it may be served again as it is.

        What it costs beyond the caches is charged to ``client``, and only that is refused:
        a badge the caches can answer is served over budget too. The refusal is one generic
        ``rate limited`` image (none of the request's own text, colours or logo, so never a new
        render), ``private, no-store`` (that client's answer alone: Varnish or a CDN must never
        serve it to anyone else), and the hot path does not keep it.
        """
        options = dict(wanted.options)
        label = wanted.label or wanted.kind.label_for(options)
        try:
            outcome, data = await self._data(wanted, client, about)
            if data is None:
                (message, color), fresh_for = ERRORS[outcome], 0.0
            else:
                message, color = wanted.kind.rule(data.value, options)
                color, fresh_for = wanted.color or color, data.fresh_until - self._clock.seconds()
            lifetime = lifetimes.badge(wanted.kind, outcome, fresh_for, wanted.cache_seconds)
            body = await self._images.draw(wanted, label, message, color, data is None, about,
                                           partial(self._budgets.render, client, wanted.scale))
        except OverBudget as over:
            self._counters.over_budget[over.cost] += 1
            refused = self._refusals.get((wanted.kind.name, wanted.format))
            if refused is None:
                plain = replace(wanted, label=None, color=None, label_color=None, logo=None, style="flat",
                                scale=1)
                message, color = ERRORS[Outcome.RATE_LIMITED]
                body = await self._images.draw(plain, OVER_BUDGET_LABEL, message, color, True, about)
                refused = self._refusals[wanted.kind.name, wanted.format] = respond(body, wanted, REFUSED)
            return refused, 0.0
        return respond(body, wanted, cache_control(lifetime.max_age)), lifetime.keep_for

    async def _data(self, wanted: BadgeRequest, client: str,
                    about: RequestState | None) -> tuple[Outcome, Data | None]:
        """The package data a badge reads, with how it came out; None for an error."""
        if wanted.index is None:
            return Outcome.UNKNOWN_INDEX, None
        if wanted.package is None:
            return Outcome.INVALID_NAME, None
        source = wanted.kind.source
        if source == "pypi":  # the package's document, from the index the request picked
            source = wanted.index
        elif wanted.index != DEFAULT:  # download counts exist for pypi.org's packages only
            return Outcome.NOT_APPLICABLE, None
        account = self._budgets.account(client, "names")
        try:
            if source == "stats":
                await self._known(wanted.package, account)
            data = await self._packages.get(source, wanted.package, about, account)
        except OverBudget:
            raise
        except NotFound:
            return Outcome.NOT_FOUND, None
        except RateLimited:
            return Outcome.RATE_LIMITED, None
        except Unavailable:
            return Outcome.UNAVAILABLE, None
        return Outcome.STALE if data.stale else Outcome.FRESH, data

    async def _known(self, package: str, account: Account) -> None:
        """Raise NotFound if PyPI does not know ``package``: pypistats' small budget is spent on real names only."""
        try:
            await self._packages.get(DEFAULT, package, account=account)
        except Unavailable as error:  # PyPI is down or slow: ask pypistats anyway
            if isinstance(error, OverBudget):
                raise
