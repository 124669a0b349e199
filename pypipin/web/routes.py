"""The routes of the HTTP face: badges, the home page and its assets, /health and /metrics."""

import json
import random
from collections.abc import Mapping
from typing import Any

from klein import Klein
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.pages import notFound
from twisted.web.resource import IResource, Resource
from twisted.web.server import Request
from twisted.web.static import File
from werkzeug.exceptions import NotFound

from pypipin.answers import Answers
from pypipin.badges.lifetimes import HOME_MAX_AGE, REFUSED, STATIC_MAX_AGE
from pypipin.badges.parsing import BadgeRequest, key, parse, query
from pypipin.data.feed import Follower
from pypipin.data.images import Drawer
from pypipin.limits.shared import Fleet
from pypipin.metrics import Counters
from pypipin.renderer.drawing import RendererDown, RenderFailed
from pypipin.store.lru import LRU
from pypipin.store.memory import Store
from pypipin.upstream.indexes import DEFAULT, Index
from pypipin.waiting import sleep
from pypipin.web import home, openapi
from pypipin.web.clients import Network, client, is_trusted, peer_host
from pypipin.web.encoding import body_for, choose, compress
from pypipin.web.front import Front
from pypipin.web.response import Response, respond
from pypipin.web.state import state


class _Static(File):
    """The page's assets, whole: a folder is not listed, and Range is ignored."""

    def directoryListing(self) -> IResource:
        return notFound()

    def render_GET(self, request: Request) -> Any:
        # Twisted's range producers fail on some (100 x "0-", "-99999999"), leaving the response hanging
        request.requestHeaders.removeHeader(b"Range")
        body = super().render_GET(request)  # type: ignore[no-untyped-call]  # Twisted's File has no hints
        if not request.startedWriting:
            request.setHeader(b"Accept-Ranges", b"none")
        return body

    render_HEAD = render_GET


def _page(request: IRequest, content_type: bytes, plain: bytes, gzipped: bytes | None) -> bytes:
    """A document made once (the home page, the OpenAPI document), gzipped when the client takes it."""
    request.setHeader(b"Content-Type", content_type)
    request.setHeader(b"Cache-Control", b"public, max-age=%d" % HOME_MAX_AGE)
    return body_for(request, choose(request, plain, gzipped)[0])


def _not_a_badge(request: IRequest) -> bytes:
    request.setResponseCode(404)
    request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
    return b"Not a badge URL. Badges live at /<badge>/<package>/badge.svg\n"


class Routes:
    """The Klein app: badge URLs, the home page, its assets, /health and /metrics."""

    app = Klein()

    def __init__(
        self,
        clock: IReactorTime,
        answers: Answers,
        renderer: Drawer,
        store: Store,
        hot: LRU,
        counters: Counters,
        metrics: IResource,
        trusted: tuple[Network, ...] = (),
        indexes: Mapping[str, Index] | None = None,
        feeds: Mapping[str, Follower] | None = None,
        fleet: Fleet | None = None,
        refusal_delay: float = 0.0,
    ) -> None:
        self._clock = clock
        self._answers = answers
        self._refusal_delay = refusal_delay  # seconds a client that is no trusted proxy waits for a refusal
        self.feeds = feeds or {}  # the update feeds followed, by index: for /health
        self._refusals: dict[tuple[str, str], Response] = {}  # (kind, format): the refusal, made once
        self._counters = counters
        self._metrics = metrics
        self._trusted = trusted
        self._indexes = indexes or {}
        self._home = home.page(list(self._indexes) or [DEFAULT])
        self._home_gzipped = compress(self._home)
        self._openapi = openapi.body()
        self._openapi_gzipped = compress(self._openapi)
        self._renderer = renderer  # for /health
        self._store = store  # for /health
        self._fleet = fleet or Fleet()  # for /health
        self._hot = hot

    def resource(self) -> Front:
        """The whole face: the hot path in front of the routes."""
        return Front(self._clock, self._hot, self.app.resource(), self._counters, self.parse)

    def parse(self, uri: bytes) -> BadgeRequest | None:
        """The badge a URL asks for, with the configured indexes; None for a URL that is no badge."""
        path, _, raw = uri.partition(b"?")
        return parse(path, query(raw), self._indexes)

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
                "redis_master": self._store.server,
                "degraded": self._store.reason is not None,
                "last_upstream_success": self._counters.last_ok,
                "indexes": {name: self._counters.last_ok.get(name) for name in self._indexes},
                "feeds": {
                    name: {"mode": mode}
                    if name not in self.feeds
                    else {
                        "mode": mode,
                        "last_read": self.feeds[name].state.read,
                        "since": self.feeds[name].state.since,
                    }
                    for name, mode in self.feed_modes().items()
                },
                "fleet": self._fleet.size,
            }
        ).encode()

    def feed_modes(self) -> dict[str, str]:
        """Each index's update feed: ``feed``, ``fallback``, or ``off`` (not followed)."""
        return {name: self.feeds[name].mode() if name in self.feeds else "off" for name in self._indexes}

    @app.route("/metrics")
    def metrics(self, request: IRequest) -> IResource:
        return self._metrics

    @app.route("/")
    def home(self, request: IRequest) -> bytes:
        return _page(request, b"text/html; charset=utf-8", self._home, self._home_gzipped)

    @app.route("/openapi.json")
    def openapi(self, request: IRequest) -> bytes:
        """The OpenAPI 3.1 document of every badge route."""
        request.setHeader(b"Access-Control-Allow-Origin", b"*")
        return _page(request, b"application/json", self._openapi, self._openapi_gzipped)

    @app.route("/static/", branch=True)
    def static(self, request: IRequest) -> Resource:
        request.setHeader(b"Cache-Control", b"public, max-age=%d" % STATIC_MAX_AGE)
        return _Static(home.STATIC_DIR)

    async def _refusal(self, request: IRequest, wanted: BadgeRequest) -> Response:
        """The one generic refusal of ``wanted``'s kind and format (drawn, and its response made, once),
        after ``refusal_delay`` for a client that is no trusted proxy."""
        if self._refusal_delay and not is_trusted(peer_host(request.getClientAddress()), self._trusted):
            # from half to one and a half times the delay, so a crowd refused at once does not come back
            # at once; a client disconnecting cancels the wait
            await sleep(self._clock, self._refusal_delay * random.uniform(0.5, 1.5))
        response = self._refusals.get((wanted.kind.name, wanted.format))
        if response is None:
            body = await self._answers.refusal(wanted, state(request).reached)
            response = self._refusals[wanted.kind.name, wanted.format] = respond(body, wanted, REFUSED)
        return response

    @app.handle_errors(NotFound)
    def unrouted(self, request: IRequest, failure: Failure) -> bytes:
        """A path no route takes (werkzeug's ``path`` takes no newline): the badge route's plain 404."""
        return _not_a_badge(request)

    @app.route("/<path:_>")
    async def badge(self, request: IRequest, _: str) -> bytes:
        about = state(request)
        wanted = about.wanted or self.parse(request.uri)  # the hot path may have parsed it already
        if wanted is None:
            return _not_a_badge(request)
        about.badge, about.format = wanted.kind.name, wanted.format
        try:
            answer = await self._answers.answer(wanted, client(request, self._trusted), about.reached)
            if answer.refused:
                return (await self._refusal(request, wanted)).write(request)
        except (RendererDown, RenderFailed):  # no image could be drawn, not even an error badge
            request.setResponseCode(503)
            request.setHeader(b"Retry-After", b"1")
            request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
            return b"The badge renderer is not drawing right now (restarting?); try again in a second.\n"
        response = respond(answer.body, wanted, answer.caching)
        if answer.keep_for > 0:
            self._hot.set(key(request.path, wanted), response, answer.keep_for)
        return response.write(request)
