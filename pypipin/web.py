"""The HTTP face: badge routes, error badges, response headers and the hot path."""

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from klein import Klein
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.web.iweb import IRequest
from twisted.web.resource import NoResource, Resource
from twisted.web.static import File

from pypipin import home
from pypipin.cache import LRU, Store
from pypipin.metrics import Counters, registry
from pypipin.packages import Packages
from pypipin.renderer import Renderer, RendererDown, RenderFailed
from pypipin.request import FORMATS, BadgeRequest, parse, query
from pypipin.singleflight import SingleFlight, across_processes
from pypipin.upstream import NotFound, RateLimited, Unavailable

log = Logger()

IMAGE_TTL = 86400
MAX_URI = 8192  # Twisted itself closes the connection past 16 KiB of request line and headers
STALE_MAX_AGE = 60
# message, colour and HTTP cache lifetime of each error badge
INVALID_NAME = ("invalid name", "red", 86400)
NOT_FOUND = ("not found", "red", 60)
UNAVAILABLE = ("unavailable", "lightgrey", 10)
RATE_LIMITED = ("rate limited", "lightgrey", 10)


def cache_control(max_age: int) -> bytes:
    return (
        f"public, max-age={max_age}, s-maxage={max_age}, stale-while-revalidate=86400, stale-if-error=604800"
    ).encode()


@dataclass(frozen=True)
class Response:
    """A finished badge response, ready to be written again and again."""

    body: bytes
    content_type: bytes
    cache_control: bytes
    etag: bytes
    kind: str  # for the metrics
    format: str

    def __len__(self) -> int:
        return len(self.body) + len(self.cache_control) + 64

    def write(self, request: IRequest) -> bytes:
        request.setHeader(b"Content-Type", self.content_type)
        request.setHeader(b"Cache-Control", self.cache_control)
        request.setHeader(b"ETag", self.etag)
        request.setHeader(b"Access-Control-Allow-Origin", b"*")
        match = request.getHeader(b"If-None-Match")
        if match and (match.strip() == b"*" or self.etag in (tag.strip() for tag in match.split(b","))):
            request.setResponseCode(304)
            return b""
        return self.body


def seal(image: bytes) -> bytes:
    """An image as stored: prefixed with its own digest, so a corrupt or foreign value is seen."""
    return hashlib.sha256(image).digest()[:8] + image


def unseal(stored: bytes | None) -> bytes | None:
    if stored is None or len(stored) < 9 or hashlib.sha256(stored[8:]).digest()[:8] != stored[:8]:
        return None
    return stored[8:]


def respond(body: bytes, wanted: BadgeRequest, max_age: int) -> Response:
    etag = b'"' + hashlib.sha256(body).hexdigest()[:32].encode() + b'"'
    return Response(body, FORMATS[wanted.format].encode(), cache_control(max_age), etag, wanted.kind.name, wanted.format)


class Front(Resource):
    """Answers a URL served before straight from memory, before any routing.

    ``in_flight`` counts the requests passed on to the app and not finished yet.
    """

    isLeaf = True

    def __init__(self, clock: IReactorTime, hot: LRU, inner: Resource, counters: Counters) -> None:
        super().__init__()
        self._clock = clock
        self._hot = hot
        self._inner = inner
        self._cache = counters.cache
        self.in_flight = 0

    def render(self, request: IRequest) -> Any:
        # read by the Site's log() for the metrics; a badge route names its badge and format
        request.started, request.badge, request.format = self._clock.seconds(), "-", "-"
        if len(request.uri) > MAX_URI:
            request.setResponseCode(414)
            request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
            return b"URI too long\n"
        if request.method in (b"GET", b"HEAD"):
            hit = self._hot.get(request.uri)
            if hit is not None:
                self._cache["hot", "hit"] += 1
                request.badge, request.format = hit.kind, hit.format
                return hit.write(request)
        self._cache["hot", "miss"] += 1
        self.in_flight += 1
        request.notifyFinish().addBoth(self._finished)
        return self._inner.render(request)

    def _finished(self, _: object) -> None:
        self.in_flight -= 1


class _Static(File):
    """The page's assets; a folder is not listed."""

    def directoryListing(self) -> Resource:
        return NoResource()


class Badges:
    """The Klein app: turns badge URLs into images, through the caches."""

    app = Klein()

    def __init__(
        self,
        clock: IReactorTime,
        packages: Packages,
        renderer: Renderer,
        store: Store,
        images: LRU,
        hot: LRU,
        counters: Counters,
    ) -> None:
        self._clock = clock
        self._counters = counters
        self._registry = registry(counters)
        self._home = home.page()
        self._packages = packages
        self._renderer = renderer
        self._store = store
        self._images = images
        self._hot = hot
        self._renders = SingleFlight()

    def resource(self) -> Front:
        return Front(self._clock, self._hot, self.app.resource(), self._counters)

    @app.route("/health")
    async def health(self, request: IRequest) -> bytes:
        """200 with each dependency's state; 503 when no badge can be drawn."""
        renderer = await self._renderer.healthy()
        request.setResponseCode(200 if renderer else 503)
        request.setHeader(b"Content-Type", b"application/json")
        request.setHeader(b"Cache-Control", b"no-store")
        return json.dumps(
            {
                "renderer": "up" if renderer else "down",
                "cache": self._store.state,
                "last_upstream_success": self._counters.last_ok,
            }
        ).encode()

    @app.route("/metrics")
    def metrics(self, request: IRequest) -> bytes:
        request.setHeader(b"Content-Type", CONTENT_TYPE_LATEST.encode())
        return generate_latest(self._registry)

    @app.route("/")
    def home(self, request: IRequest) -> bytes:
        request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
        request.setHeader(b"Cache-Control", b"public, max-age=300")
        return self._home

    @app.route("/static/", branch=True)
    def static(self, request: IRequest) -> Resource:
        # the page asks for its assets with a content hash (?v=...), so they may be kept a day
        request.setHeader(b"Cache-Control", b"public, max-age=86400")
        return _Static(home.STATIC_DIR)

    @app.route("/<path:_>")
    async def badge(self, request: IRequest, _: str) -> bytes:
        wanted = parse(request.path, query(request.uri.partition(b"?")[2]))
        if wanted is None:
            request.setResponseCode(404)
            request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
            return b"Not a badge URL. Badges live at /<badge>/<package>/badge.svg\n"
        request.badge, request.format = wanted.kind.name, wanted.format
        try:
            response, keep_for = await self.answer(wanted)
        except (RendererDown, RenderFailed):  # no image could be drawn, not even an error badge
            request.setResponseCode(503)
            request.setHeader(b"Retry-After", b"1")
            request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
            return b"The badge renderer is not drawing right now (restarting?); try again in a second.\n"
        if keep_for > 0:
            self._hot.set(request.uri, response, keep_for)
        return response.write(request)

    async def answer(self, wanted: BadgeRequest) -> tuple[Response, float]:
        """The response to a badge request, and how long it may be served again as it is."""
        options = dict(wanted.options)
        label = wanted.label or wanted.kind.label.format(**options)
        try:
            if wanted.package is None:
                message, color, max_age = INVALID_NAME
            else:
                data = await self._packages.get(wanted.kind.source, wanted.package)
                message, color = wanted.kind.rule(data.value, options)
                color = wanted.color or color
                if data.stale:
                    max_age, keep_for = STALE_MAX_AGE, 10.0
                else:
                    max_age = max(wanted.kind.max_age, wanted.cache_seconds)
                    keep_for = min(max_age, data.fresh_until - self._clock.seconds())
                return respond(await self.draw(wanted, label, message, color, False), wanted, max_age), keep_for
        except NotFound:
            message, color, max_age = NOT_FOUND
        except RateLimited:
            message, color, max_age = RATE_LIMITED
        except Unavailable:
            message, color, max_age = UNAVAILABLE
        keep_for = float(max_age)
        return respond(await self.draw(wanted, label, message, color, True), wanted, max_age), keep_for

    async def draw(self, wanted: BadgeRequest, label: str, message: str, color: str, is_error: bool) -> bytes:
        if wanted.format == "json":
            return json.dumps(
                {"schemaVersion": 1, "label": label, "message": message, "color": color, "isError": is_error}
            ).encode()
        spec = {
            "label": label,
            "message": message,
            "color": color,
            "labelColor": wanted.label_color,
            "style": wanted.style,
            "format": wanted.format,
            "scale": wanted.scale,
            "logo": wanted.logo,
        }
        try:
            return await self.image(spec)
        except RenderFailed as failure:
            log.error("Renderer refused {spec}: {failure}", spec=spec, failure=failure)
            return await self.image({"label": label, "message": "render error", "color": "lightgrey",
                                     "style": "flat", "format": wanted.format, "scale": 1})

    async def image(self, spec: dict[str, Any]) -> bytes:
        """An image by exactly what it shows: from memory, then the shared store, then drawn once."""
        key = "pypipin:1:img:" + hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
        found = self._images.get(key)
        self._counters.cache["images", "hit" if found is not None else "miss"] += 1
        if found is None:
            found = await self._renders.run(key, lambda: self._shared_image(key, spec))
            self._images.set(key, found, IMAGE_TTL)
        return found

    async def _shared_image(self, key: str, spec: dict[str, Any]) -> bytes:
        async def read() -> bytes | None:
            return unseal(await self._store.get(key))

        found = await read()
        self._counters.cache["store", "hit" if found is not None else "miss"] += 1
        if found is not None:
            return found
        return await across_processes(self._store, self._clock, key, read, lambda: self._render(key, spec),
                                      self._renderer.wait + 1)

    async def _render(self, key: str, spec: dict[str, Any]) -> bytes:
        try:
            image = await self._renderer.render(spec)
        except Exception:
            self._counters.renders["error"] += 1
            raise
        self._counters.renders["ok"] += 1
        await self._store.set(key, seal(image), IMAGE_TTL)
        return image
