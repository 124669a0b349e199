"""Wiring: the options turned into one twistd service tree."""

import signal
from functools import partial
from pathlib import Path
from typing import Any, Callable

from treq.client import HTTPClient
from twisted.application import service, strports
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.web.pages import notFound
from twisted.web.resource import Resource
from twisted.web.server import Site

from pypipin.store.lru import LRU
from pypipin.store.memory import MemoryStore, Store
from pypipin.store.redis import RedisStore
from pypipin.data.images import Drawer, Images
from pypipin.limits.budgets import Budgets
from pypipin.web.listener import Listener, max_connections
from pypipin.web.access_log import site
from pypipin.metrics import Counters, MetricsPage, Readings, registry
from pypipin.data.packages import Packages
from pypipin.renderer.provision import default_dir
from pypipin.limits.bucket import Gate
from pypipin.store.connection import address
from pypipin.renderer.drawing import Renderer
from pypipin.renderer.process import Monitor, free_port
from pypipin.upstream.client import Upstream, connect
from pypipin.waiting import poll_until
from pypipin.web.routes import Routes
from pypipin.answers import Answers

log = Logger()

DRAIN_SECONDS = 10


class Pypipin(service.MultiService):
    """The daemon's services, stopped in order.

    On stop: stop accepting connections, let the requests in flight finish (at most
    ``DRAIN_SECONDS``), close the clients (the access log writes what waits), then stop
    node. SIGTERM stops the reactor as twistd's own handler does, but twistd then exits 0
    rather than by the signal. SIGUSR1 and SIGHUP call ``reopen`` (the access log's file).
    """

    def __init__(self, reactor: Any, web: service.Service, in_flight: Callable[[], int], closers: list[Any],
                 monitor: Monitor, reopen: Callable[[], None]) -> None:
        super().__init__()
        self._reactor = reactor
        self._reopen = reopen
        self._web = web
        self._in_flight = in_flight
        self._closers = closers
        self._monitor = monitor
        for child in (monitor, web):
            child.setServiceParent(self)

    def startService(self) -> None:
        super().startService()
        stop = lambda *_: self._reactor.callFromThread(self._reactor.stop)  # noqa: E731
        self._reactor.callWhenRunning(signal.signal, signal.SIGTERM, stop)
        self._reactor.callWhenRunning(self._on_reopen_signals)

    def _on_reopen_signals(self) -> None:
        for number in (signal.SIGUSR1, signal.SIGHUP):
            before = signal.getsignal(number)

            def handler(signum: int, frame: Any, before: Any = before) -> None:
                self._reactor.callFromThread(self._reopen)
                if callable(before):  # twistd's own SIGUSR1 rotates its log file when it daemonizes
                    before(signum, frame)

            signal.signal(number, handler)

    def stopService(self) -> defer.Deferred[None]:
        service.Service.stopService(self)
        return defer.ensureDeferred(self._stop())

    async def _stop(self) -> None:
        await defer.maybeDeferred(self._web.stopService)
        if not await poll_until(self._reactor, lambda: self._in_flight() == 0, DRAIN_SECONDS):
            log.warn("Stopping with {count} requests still in flight", count=self._in_flight())
        for close in self._closers:
            await defer.maybeDeferred(close)
        await self._monitor.stopService()


def lru(clock: IReactorTime, options: Any) -> LRU:
    """An in-process cache of the size the options allow."""
    return LRU(clock, options["cache-entries"], options["cache-mb"] * 1024 * 1024)


def app(options: Any, clock: IReactorTime, store: Store, http: HTTPClient, renderer: Drawer, counters: Counters,
        metrics: Resource, hot: LRU, drawn: LRU) -> Routes:
    """The rooms wired together: upstream data through ``http``, images from ``renderer``, both kept in ``store``;
    ``metrics`` is the app's /metrics page, ``hot`` and ``drawn`` the in-process caches of responses and images."""
    indexes = options["indexes"]  # each index is a source of its own: cache keys, flights, gates
    upstream = Upstream(
        clock, http, indexes, options["stats-url"], options["upstream-timeout"],
        options["upstream-max-mb"] * 1024 * 1024, options["upstream-concurrency"],
    )
    packages = Packages(
        clock,
        store,
        {"stats": upstream.stats, **{name: partial(upstream.pypi, index=name) for name in indexes}},
        {"stats": options["stats-ttl"], **{name: options["pypi-ttl"] for name in indexes}},
        options["stale-ttl"],
        {"stats": Gate(clock, options["stats-rate"]),
         **{name: Gate(clock, options["pypi-rate"] * 60, burst=max(1, int(options["pypi-rate"] * 2)))
            for name in indexes}},
        counters,
        max_wait=options["upstream-timeout"],
    )
    images = Images(clock, renderer, store, drawn, counters)
    budgets = Budgets(clock, {"names": options["client-names"], "renders": options["client-renders"]},
                      renders_per_second=options["global-renders"], slots=options["render-concurrency"])
    answers = Answers(clock, packages, images, budgets, counters)
    return Routes(answers, renderer, store, hot=hot, counters=counters, metrics=metrics,
                  trusted=options["trusted-proxy"], indexes=indexes)


def make_service(options: Any, reactor: Any = None) -> service.MultiService:
    """The whole daemon: the renderer under procmon, the caches, the upstream client and the web site."""
    if reactor is None:
        from twisted.internet import reactor
    renderer_port = options["renderer-port"] or free_port()
    counters = Counters()
    directory = Path(options["renderer-dir"]) if options["renderer-dir"] else default_dir()
    monitor = Monitor(reactor, options["node"], renderer_port, counters, directory, not options["renderer-dir"],
                      options["render-concurrency"])
    fallback = MemoryStore(lru(reactor, options))
    store: Store = fallback
    closers: list[Any] = []
    if options["redis"] == "none":
        log.warn("No Redis (--redis none): caching in this process only")
    else:
        where = address(options["redis"], options["redis-password-file"])
        redis = RedisStore(reactor, where, options["redis-ca"], fallback)
        store = redis
        closers.append(redis.disconnect)
    http, pool = connect(reactor, options["upstream-timeout"])
    renderer = Renderer(reactor, renderer_port, renders=options["render-concurrency"], kill=monitor.kill,
                        problem=lambda: monitor.startup_problem)
    closers += [pool.closeCachedConnections, renderer.pool.closeCachedConnections]
    hot, drawn = lru(reactor, options), lru(reactor, options)
    readings = Readings({
        "pypipin_redis_up": ("1 while the shared Redis is in use", [], lambda: float(store.state == "redis")),
        "pypipin_renderer_up": ("1 while the Node renderer process runs", [], lambda: float(bool(monitor.protocols))),
        "pypipin_requests_in_flight": ("Requests passed to the app and not finished yet", [],
                                       lambda: front.in_flight),
        "pypipin_cache_entries": ("Entries in each in-process cache", ["cache"],
                                  lambda: {("hot",): len(hot), ("images",): len(drawn)}),
        "pypipin_cache_bytes": ("Bytes held by each in-process cache", ["cache"],
                                lambda: {("hot",): hot.bytes, ("images",): drawn.bytes}),
    })
    metrics = MetricsPage(registry(counters, readings), options["metrics-allow"], options["trusted-proxy"])
    front = app(options, reactor, store, http, renderer, counters,
                notFound() if options["metrics-port"] else metrics, hot, drawn).resource(reactor)
    web = service.MultiService()
    badge_site, access_log = site(front, options["access-log"], options["log-format"], counters, reactor)
    listener = Listener(
        badge_site, options["client-connections"], max_connections(options["max-connections"]),
        options["trusted-proxy"], options["head-timeout"], options["idle-timeout"], counters.refused,
        options["response-timeout"],
    )
    strports.service(options["port"], listener, reactor=reactor).setServiceParent(web)
    if options["metrics-port"]:
        strports.service(options["metrics-port"], Site(metrics), reactor=reactor).setServiceParent(web)
    if access_log is not None:
        closers.append(access_log.close)
    return Pypipin(reactor, web, lambda: front.in_flight, closers, monitor,
                   access_log.reopen if access_log is not None else lambda: None)
