"""Wiring: every part built, in one place, from the ``Settings``: the daemon's service tree and what the
commands use."""
# mypy: untyped-calls-exclude=twisted
# (much of Twisted is not annotated: calls into it go unchecked, the rest of these modules is strict)

import signal
import uuid
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, cast

from treq.client import HTTPClient
from twisted.application import service, strports
from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IProtocolFactory, IReactorTime
from twisted.logger import Logger
from twisted.web.client import HTTPConnectionPool
from twisted.web.pages import notFound
from twisted.web.resource import IResource
from twisted.web.server import Site

from pypipin.answers import Answers
from pypipin.data import keys
from pypipin.data.downloads import ClickHouseCounts, Downloads, FleetBudget
from pypipin.data.feed import Follower
from pypipin.data.images import Drawer, Images
from pypipin.data.packages import Packages
from pypipin.data.trust import Trust
from pypipin.gathering import OWN_PORT, RELAY, RELAY_TIMEOUT, SCRAPE_TIMEOUT, Gathering, relayed
from pypipin.limits.bucket import Gate
from pypipin.limits.budgets import Budgets
from pypipin.limits.shared import Buckets, Fleet, LocalBuckets, RedisBuckets, heartbeat
from pypipin.metrics import LOOPBACK, Counters, MetricsPage, Readings, registry
from pypipin.renderer.drawing import Renderer
from pypipin.renderer.process import Monitor, free_port
from pypipin.settings import Settings
from pypipin.store.connection import Where, address
from pypipin.store.lru import LRU
from pypipin.store.memory import MemoryStore, Store
from pypipin.store.redis import RedisStore
from pypipin.supervisor import Adopted, Workers, worker_command
from pypipin.upstream.clickhouse import ClickHouse
from pypipin.upstream.client import Upstream, connect
from pypipin.upstream.http import client
from pypipin.upstream.indexes import DEFAULT
from pypipin.waiting import poll_until
from pypipin.web.access_log import site
from pypipin.web.front import forget
from pypipin.web.listener import Listener
from pypipin.web.routes import Routes
from pypipin.workers import NO_SHARED_CACHE, share

log = Logger()

DRAIN_SECONDS = 10


class Pypipin(service.MultiService):
    """The daemon's services, stopped in order.

    On stop: stop accepting connections, let the requests in flight finish (at most
    ``DRAIN_SECONDS``), close the clients (the access log writes what waits), then stop
    node. SIGTERM stops the reactor as twistd's own handler does, but twistd then exits 0
    rather than by the signal. SIGUSR1 and SIGHUP call ``reopen`` (the access log's file).
    """

    def __init__(
        self,
        reactor: Any,
        web: service.Service,
        in_flight: Callable[[], int],
        closers: list[Any],
        monitor: Monitor | None,
        reopen: Callable[[], None],
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # the exclusion above misses super()
        self._reactor = reactor
        self._reopen = reopen
        self._web = web
        self._in_flight = in_flight
        self._closers = closers
        self._monitor = monitor
        for child in (monitor, web):
            if child is not None:
                child.setServiceParent(self)

    def startService(self) -> None:
        super().startService()  # type: ignore[no-untyped-call]  # the exclusion above misses super()
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
        if self._monitor is not None:
            await self._monitor.stopService()


def lru(clock: IReactorTime, settings: Settings) -> LRU:
    """An in-process cache of the size the settings allow."""
    return LRU(clock, settings.cache.entries, settings.cache.bytes)


def redis_address(settings: Settings) -> Where | None:
    """Where the shared Redis is (None for ``--redis none``); OSError when its password file cannot be
    read."""
    if settings.cache.redis_url is None:
        return None
    return address(settings.cache.redis_url, settings.cache.redis_password_file)


def redis_store(
    settings: Settings, clock: IReactorTime, where: Where, fallback: MemoryStore, timeout: float = 1.0
) -> RedisStore:
    """The shared Redis at ``where``, ``fallback`` standing in while it is unreachable."""
    return RedisStore(clock, where, settings.cache.redis_ca, fallback, timeout=timeout)


def probe_client(reactor: Any, timeout: float) -> tuple[HTTPClient, HTTPConnectionPool]:
    """An HTTP client of one connection per host, for ``pypipin check``'s probes."""
    return client(reactor, 1, timeout)


def app(
    settings: Settings,
    clock: IReactorTime,
    store: Store,
    http: HTTPClient,
    renderer: Drawer,
    counters: Counters,
    metrics: IResource,
    hot: LRU,
    drawn: LRU,
    fleet: Fleet | None = None,
    buckets: Buckets | None = None,
) -> Routes:
    """The rooms wired together: upstream data through ``http``, images from ``renderer``, both kept in
    ``store``; ``metrics`` is the app's /metrics page, ``hot`` and ``drawn`` the in-process caches of
    responses and images; the upstream gates and client budgets in ``buckets`` (the fleet's; default:
    this process's)."""
    fleet = fleet or Fleet()
    buckets = buckets or LocalBuckets(clock, fleet)
    sources = settings.upstream
    indexes = sources.indexes  # each index is a source of its own: cache keys, flights, gates
    upstream = Upstream(
        reactor=clock,
        http=http,
        indexes=indexes,
        stats_url=sources.stats_url,
        timeout=sources.timeout,
        max_bytes=sources.max_bytes,
        concurrency=sources.concurrency,
    )
    # the update feeds followed: --pypi-url's (or --feed-url), and those the other indexes name
    feeds = {DEFAULT: sources.feed_url} if sources.feed_url is not None else {}
    feeds.update((name, each.feed) for name, each in indexes.items() if each.feed is not None)
    me = uuid.uuid4().hex

    def dropper(index: str) -> Callable[[Iterable[str] | None], None]:
        return lambda names: forget(hot, index, names)

    followers = {
        name: Follower(
            clock,
            store,
            upstream.feed,
            url,
            name,
            interval=sources.feed_interval,
            short_ttl=sources.pypi_ttl,
            long_ttl=sources.pypi_ttl_with_feed,
            stale_ttl=sources.stale_ttl,
            drop=dropper(name),
            me=me,
        )
        for name, url in feeds.items()
    }
    # each index's simple documents and Integrity API answers are sources of their own, through its gate;
    # a provenance never changes: it is fresh for as long as anything is kept
    gates = {name: Gate(clock, sources.pypi_per_minute, burst=sources.pypi_burst) for name in indexes}
    packages = Packages(
        clock=clock,
        store=store,
        fetchers={
            "stats": upstream.stats,
            **{name: partial(upstream.pypi, index=name) for name in indexes},
            **{keys.simple(name): partial(upstream.simple, index=name) for name in indexes},
            **{keys.integrity(name): partial(upstream.integrity, index=name) for name in indexes},
        },
        ttls={
            "stats": sources.stats_ttl,
            **{name: sources.pypi_ttl for name in indexes},
            **{keys.simple(name): sources.pypi_ttl for name in indexes},
            **{keys.integrity(name): sources.stale_ttl for name in indexes},
        },
        stale_ttl=sources.stale_ttl,
        gates={
            "stats": Gate(clock, sources.stats_per_minute),
            **gates,
            **{keys.simple(name): gate for name, gate in gates.items()},
            **{keys.integrity(name): gate for name, gate in gates.items()},
        },
        counters=counters,
        max_wait=sources.timeout,
        followed=followers,
        buckets=buckets,
    )
    images = Images(clock=clock, renderer=renderer, store=store, memory=drawn, counters=counters)
    budgets = Budgets(
        clock,
        {"names": settings.budgets.names_per_minute, "renders": settings.budgets.renders_per_minute},
        renders_per_second=settings.budgets.renders_per_second,
        slots=renderer.slots,
        shared=buckets,
    )
    answers = Answers(
        clock,
        packages,
        Trust(packages),
        images,
        budgets,
        counters,
        downloads(settings, clock, store, http, buckets, counters),
    )
    routes = Routes(
        clock,
        answers,
        renderer,
        store,
        hot=hot,
        counters=counters,
        metrics=metrics,
        trusted=settings.listener.trusted_proxies,
        indexes=indexes,
        feeds=followers,
        fleet=fleet,
        refusal_delay=settings.budgets.refusal_delay,
    )
    return routes


def feed_modes(routes: Routes) -> dict[tuple[str, ...], float]:
    """The ``pypipin_feed_mode`` gauge: by index, 1 for the mode its feed is in, 0 for the others."""
    return {
        (index, each): float(each == mode)
        for index, mode in routes.feed_modes().items()
        for each in ("feed", "fallback", "off")
    }


def downloads(
    settings: Settings,
    clock: IReactorTime,
    store: Store,
    http: HTTPClient,
    buckets: Buckets,
    counters: Counters,
) -> Downloads:
    """Download counts from the configured sources; ClickHouse's queries from the fleet's ``buckets``
    (counted in ``counters``), its data checked for a new day every hour."""
    sources = settings.upstream
    counts = None
    if "clickhouse" in sources.downloads_sources:
        clickhouse = ClickHouse(clock, http, sources.clickhouse_url, sources.timeout)
        budget = FleetBudget(buckets, sources.clickhouse_per_hour)
        counts = ClickHouseCounts(
            clock, store, clickhouse, budget, sources.stale_ttl, counters, sources.timeout
        )
        clock.callLater(0, counts.start)
    return Downloads(sources.downloads_sources, counts)


def fleet_limits(
    reactor: Any, redis: RedisStore | None, web: service.MultiService, minimum: int = 1
) -> tuple[Fleet, Buckets]:
    """The fleet as this daemon sees it (at least ``minimum`` processes) and the limits it shares: in Redis,
    with a heartbeat under ``web``, or in this process alone without Redis."""
    fleet = Fleet(minimum)
    local = LocalBuckets(reactor, fleet)
    if redis is None:
        return fleet, local
    heartbeat(reactor, redis, fleet).setServiceParent(web)
    return fleet, RedisBuckets(redis, local)


def renderer_monitor(settings: Settings, reactor: Any, counters: Counters, port: int) -> Monitor:
    """The Node renderer under procmon, on loopback ``port``."""
    drawing = settings.renderer
    return Monitor(
        reactor,
        node=drawing.node,
        port=port,
        counters=counters,
        directory=drawing.directory,
        provision=drawing.provision,
        renders=drawing.concurrency,
    )


def make_service(settings: Settings, reactor: Any = None) -> service.MultiService:
    """The whole daemon: the renderer under procmon and, with one worker, the caches, the upstream client
    and the web site in this process; with more, the workers serving them on this process's socket."""
    if reactor is None:
        from twisted.internet import reactor
    renderer_port = settings.renderer.port or free_port()
    counters = Counters()
    monitor = renderer_monitor(settings, reactor, counters, renderer_port)
    if settings.workers.count > 1:
        return parent(settings, reactor, monitor, counters, renderer_port)
    return serving(
        settings,
        reactor,
        counters,
        renderer_port,
        lambda factory: strports.service(settings.listener.port, factory, reactor=reactor),
        monitor,
    )


def loopback(port: int) -> str:
    """The strports description of ``port`` on 127.0.0.1."""
    return f"tcp:{port}:interface=127.0.0.1"


def metrics_url(port: int) -> str:
    """Where /metrics is on loopback ``port``."""
    return f"http://127.0.0.1:{port}/metrics"


def node_readings(monitor: Monitor) -> Readings:
    """Whether node runs, read from its ``monitor``."""
    return Readings(
        {
            "pypipin_renderer_up": (
                "1 while the Node renderer process runs",
                [],
                lambda: float(bool(monitor.protocols)),
            )
        }
    )


def parent(
    settings: Settings, reactor: Any, monitor: Monitor, counters: Counters, renderer_port: int
) -> service.MultiService:
    """The daemon of N workers: it holds the listening socket (accepting nothing) and node, starts,
    watches, signals and drains the workers, and gathers their metrics: on ``--metrics-port`` if given,
    else on a loopback port that each worker's ``--port`` relays."""
    count, public = settings.workers.count, settings.metrics.port
    if settings.cache.redis_url is None:
        log.warn(NO_SHARED_CACHE, count=count)
    ports, gathered = [free_port() for _ in range(count)], free_port()
    http, pool = client(reactor, 1, SCRAPE_TIMEOUT)
    own = registry(node_readings(monitor))
    gathering = Gathering(
        http, {str(number): metrics_url(port) for number, port in enumerate(ports)}, counters, own
    )
    page = MetricsPage(
        own, settings.metrics.allow if public else LOOPBACK, settings.listener.trusted_proxies, gathering.text
    )
    relay = "" if public else metrics_url(gathered)
    workers = Workers(
        reactor,
        count,
        serverFromString(reactor, settings.listener.port),
        worker_command(settings.workers.arguments, count, renderer_port),
        drain=DRAIN_SECONDS + monitor.killTime,
        environment=lambda number: {OWN_PORT: str(ports[number]), RELAY: relay},
    )
    web = service.MultiService()
    web.addService(workers)
    strports.service(
        public or loopback(gathered), cast(IProtocolFactory, Site(page)), reactor=reactor
    ).setServiceParent(web)
    return Pypipin(
        reactor,
        web,
        lambda: 0,
        [pool.closeCachedConnections],
        monitor,
        lambda: workers.signal(signal.SIGUSR1),
    )


def worker_service(
    settings: Settings, reactor: Any, socket_fd: int, own_port: int, relay: str
) -> service.MultiService:
    """One of ``settings.workers.count`` workers: the app served on the inherited listening socket
    ``socket_fd``, with its share of the daemon's caps, rendering through the daemon's node; its own
    metrics on loopback ``own_port`` for the daemon to gather, and ``--port``'s /metrics the daemon's
    whole view, fetched from ``relay`` ("": a 404, the daemon serves them on ``--metrics-port``)."""
    return serving(
        share(settings),
        reactor,
        Counters(),
        settings.renderer.port,
        lambda factory: Adopted(reactor, socket_fd, factory),
        None,
        own_port,
        relay,
    )


def serving(
    settings: Settings,
    reactor: Any,
    counters: Counters,
    renderer_port: int,
    listen: Callable[[IProtocolFactory], service.Service],
    monitor: Monitor | None,
    own_port: int | None = None,
    relay: str = "",
) -> Pypipin:
    """The caches, the upstream client and the web site, listening through ``listen``; node under
    ``monitor`` (None: node is another process's, reached on ``renderer_port``); a worker's metrics as
    ``worker_service`` says (``own_port`` None: this process is the whole daemon)."""
    drawing, listening = settings.renderer, settings.listener
    fallback = MemoryStore(lru(reactor, settings))
    store: Store = fallback
    closers: list[Any] = []
    where = redis_address(settings)
    redis: RedisStore | None = None
    if where is None:
        if settings.workers.count == 1:
            log.warn("No Redis (--redis none): caching in this process only")
    else:
        redis = redis_store(settings, reactor, where, fallback)
        store = redis
        closers.append(redis.disconnect)
    web = service.MultiService()
    fleet, buckets = fleet_limits(reactor, redis, web, minimum=settings.workers.count)
    http, pool = connect(reactor, settings.upstream.timeout)
    renderer = Renderer(
        reactor,
        renderer_port,
        renders=drawing.concurrency,
        kill=monitor.kill if monitor is not None else lambda: None,
        problem=lambda: monitor.startup_problem if monitor is not None else None,
    )
    closers += [pool.closeCachedConnections, renderer.pool.closeCachedConnections]
    hot, drawn = lru(reactor, settings), lru(reactor, settings)
    readings = Readings(
        {
            "pypipin_redis_up": (
                "1 while the shared Redis is in use",
                [],
                lambda: float(store.state == "redis"),
            ),
            "pypipin_requests_in_flight": (
                "Requests passed to the app and not finished yet",
                [],
                lambda: front.in_flight,
            ),
            "pypipin_feed_mode": (
                "1 for the mode an index's update feed is in: feed (long TTL), fallback (short TTL) or off",
                ["index", "mode"],
                lambda: feed_modes(routes),
            ),
            "pypipin_feed_last_read_seconds": (
                "Unix time of an index's update feed's last successful read (0: never)",
                ["index"],
                lambda: {(name,): float(each.state.read or 0) for name, each in routes.feeds.items()},
            ),
            "pypipin_cache_entries": (
                "Entries in each in-process cache",
                ["cache"],
                lambda: {("hot",): len(hot), ("images",): len(drawn)},
            ),
            "pypipin_cache_bytes": (
                "Bytes held by each in-process cache",
                ["cache"],
                lambda: {("hot",): hot.bytes, ("images",): drawn.bytes},
            ),
        }
    )
    collected = registry(counters, readings, *([] if monitor is None else [node_readings(monitor)]))
    metrics = MetricsPage(collected, settings.metrics.allow, listening.trusted_proxies)
    metrics_at = settings.metrics.port
    badge_metrics: IResource = notFound() if metrics_at else metrics
    if own_port is not None:  # a worker: its own metrics for the daemon, --port's the daemon's whole view
        metrics_at, metrics, badge_metrics = loopback(own_port), MetricsPage(collected, LOOPBACK), notFound()
        if relay:
            relay_http, relay_pool = client(reactor, 1, RELAY_TIMEOUT)
            closers.append(relay_pool.closeCachedConnections)
            badge_metrics = MetricsPage(
                collected,
                settings.metrics.allow,
                listening.trusted_proxies,
                partial(relayed, relay_http, relay),
            )
    routes = app(
        settings,
        reactor,
        store,
        http,
        renderer,
        counters,
        badge_metrics,
        hot,
        drawn,
        fleet,
        buckets,
    )
    front = routes.resource()
    for follower in routes.feeds.values():
        follower.service().setServiceParent(web)
    logged = settings.access_log
    badge_site, access_log = site(front, logged.where, logged.format, counters, reactor)
    listener = Listener(
        badge_site,
        per_address=listening.client_connections,
        total=listening.max_connections,
        trusted=listening.trusted_proxies,
        head_timeout=listening.head_timeout,
        idle_timeout=listening.idle_timeout,
        refused=counters.refused,
        response_timeout=listening.response_timeout,
    )
    listen(cast(IProtocolFactory, listener)).setServiceParent(web)
    if metrics_at:
        strports.service(metrics_at, cast(IProtocolFactory, Site(metrics)), reactor=reactor).setServiceParent(
            web
        )
    if access_log is not None:
        closers.append(access_log.close)
    return Pypipin(
        reactor,
        web,
        lambda: front.in_flight,
        closers,
        monitor,
        access_log.reopen if access_log is not None else lambda: None,
    )
