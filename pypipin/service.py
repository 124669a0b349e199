"""Wiring: the options turned into one twistd service tree."""

import signal
from typing import Any

from twisted.application import service, strports
from twisted.internet import defer
from twisted.logger import Logger

from pypipin.cache import LRU, MemoryStore, RedisStore, Store
from pypipin.logs import site
from pypipin.metrics import Counters
from pypipin.packages import Packages
from pypipin.ratelimit import Gate
from pypipin.renderer import Monitor, Renderer, free_port
from pypipin.upstream import Upstream
from pypipin.web import Badges

log = Logger()


class _Closer(service.Service):
    """Closes connection pools and the Redis client when twistd stops."""

    def __init__(self, closers: list[Any]) -> None:
        self._closers = closers

    def stopService(self) -> defer.Deferred[Any]:
        super().stopService()
        return defer.DeferredList([defer.maybeDeferred(close) for close in self._closers])


class _ExitZeroOnTerm(service.Service):
    """SIGTERM stops the reactor as twistd's own handler does, but twistd then exits 0, not -15."""

    def __init__(self, reactor: Any) -> None:
        self._reactor = reactor

    def startService(self) -> None:
        super().startService()
        stop = lambda *_: self._reactor.callFromThread(self._reactor.stop)  # noqa: E731
        self._reactor.callWhenRunning(signal.signal, signal.SIGTERM, stop)


def make_service(options: Any, reactor: Any = None) -> service.MultiService:
    """The whole daemon: the renderer under procmon, the caches, the upstream client and the web site."""
    if reactor is None:
        from twisted.internet import reactor
    top = service.MultiService()
    renderer_port = options["renderer-port"] or free_port()
    Monitor(reactor, options["node"], renderer_port).setServiceParent(top)

    def lru() -> LRU:
        return LRU(reactor, options["cache-entries"], options["cache-mb"] * 1024 * 1024)

    fallback = MemoryStore(lru())
    store: Store = fallback
    closers: list[Any] = []
    if options["redis"] == "none":
        log.warn("No Redis (--redis none): caching in this process only")
    else:
        redis = RedisStore(reactor, options["redis"], fallback)
        store = redis
        closers.append(redis.disconnect)
    upstream = Upstream(
        reactor, options["pypi-url"], options["stats-url"], options["upstream-timeout"],
        options["upstream-max-mb"] * 1024 * 1024,
    )
    renderer = Renderer(reactor, renderer_port)
    closers += [upstream.pool.closeCachedConnections, renderer.pool.closeCachedConnections]
    counters = Counters()
    packages = Packages(
        reactor,
        store,
        {"pypi": upstream.pypi, "stats": upstream.stats},
        {"pypi": options["pypi-ttl"], "stats": options["stats-ttl"]},
        options["stale-ttl"],
        {"pypi": Gate(reactor), "stats": Gate(reactor, options["stats-rate"])},
        counters,
        max_wait=options["upstream-timeout"],
    )
    badges = Badges(reactor, packages, renderer, store, images=lru(), hot=lru(), counters=counters)
    web = site(badges.resource(), options["access-log"], options["log-format"])
    strports.service(options["port"], web, reactor=reactor).setServiceParent(top)
    _Closer(closers).setServiceParent(top)
    _ExitZeroOnTerm(reactor).setServiceParent(top)
    return top
