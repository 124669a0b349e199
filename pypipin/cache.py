"""Key-value stores: a bounded in-process LRU (segmented), and Redis that falls back to it."""

from collections import OrderedDict
from itertools import chain
from typing import Any, Callable, Iterator, Protocol

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from pypipin.redis_connection import Address, connect
from pypipin.waiting import poll_until

log = Logger()

KEY_PREFIX = "pypipin:2:"  # of every key pypipin writes; changes when stored values change shape
OUTAGE_LOG_SECONDS = 60  # a changed cause during one outage is logged at most this often


PROTECTED = 0.8  # of an LRU's entries, the most that may be protected (hit at least twice)


class LRU:
    """A dict bounded by entry count and total bytes, with an expiry per entry, that keeps what is hit often.

    Keys are str or bytes; values are anything with a ``len()`` in bytes. A segmented LRU: a new
    entry is on probation, and hit again it is protected (at most ``PROTECTED`` of ``max_entries``;
    beyond that the least recently used protected entry goes back on probation). Room is made on
    probation first, so a flood of entries hit once pushes out only other entries hit once.
    """

    def __init__(self, clock: IReactorTime, max_entries: int, max_bytes: int) -> None:
        self._clock = clock
        self._probation: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self._protected: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._probation) + len(self._protected)

    def __iter__(self) -> Iterator[Any]:
        """The keys, those on probation first."""
        return chain(self._probation, self._protected)

    def get(self, key: Any) -> Any:
        segment = self._protected if key in self._protected else self._probation
        entry = segment.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock.seconds():
            self._drop(segment, key)
            return None
        if segment is self._protected:
            segment.move_to_end(key)
        else:
            del self._probation[key]
            self._protected[key] = entry
            while len(self._protected) > int(self.max_entries * PROTECTED):
                oldest, demoted = self._protected.popitem(last=False)
                self._probation[oldest] = demoted
        return entry[1]

    def set(self, key: Any, value: Any, ttl: float) -> None:
        segment = self._protected if key in self._protected else self._probation
        if key in segment:
            self._drop(segment, key)
        size = len(key) + len(value)
        if size > self.max_bytes:
            return
        segment[key] = (self._clock.seconds() + ttl, value)  # a protected entry set anew stays protected
        self.bytes += size
        while len(self) > self.max_entries or self.bytes > self.max_bytes:
            # probation's least recently used first, unless that is the entry just set and others are protected
            oldest = self._probation if self._probation and (
                next(iter(self._probation)) != key or not self._protected) else self._protected
            self._drop(oldest, next(iter(oldest)))

    def pop(self, key: Any) -> None:
        for segment in (self._probation, self._protected):
            if key in segment:
                self._drop(segment, key)

    def _drop(self, segment: OrderedDict[Any, tuple[float, Any]], key: Any) -> None:
        _, value = segment.pop(key)
        self.bytes -= len(key) + len(value)


class Store(Protocol):
    """What the service needs of a shared cache."""

    def get(self, key: str) -> defer.Deferred[bytes | None]: ...

    def set(self, key: str, value: bytes, ttl: float) -> defer.Deferred[None]: ...

    def add(self, key: str, value: bytes, ttl: float) -> defer.Deferred[bool]:
        """Set ``key`` only if it is absent; True if this call set it (a lock)."""

    def delete(self, key: str) -> defer.Deferred[None]: ...

    @property
    def state(self) -> str:
        """``redis``, ``in-process fallback`` (Redis unreachable) or ``in-process`` (no Redis)."""

    reason: str | None
    """Why Redis is not in use (``in-process fallback``), else None."""


def store_layer(store: Store) -> str:
    """The cache layer a value found in ``store`` comes from: ``redis`` or ``memory``."""
    return "redis" if store.state == "redis" else "memory"


class MemoryStore:
    """A ``Store`` kept in this process only."""

    state = "in-process"
    reason = None

    def __init__(self, lru: LRU) -> None:
        self.lru = lru

    def get(self, key: str) -> defer.Deferred[bytes | None]:
        return defer.succeed(self.lru.get(key))

    def set(self, key: str, value: bytes, ttl: float) -> defer.Deferred[None]:
        self.lru.set(key, value, ttl)
        return defer.succeed(None)

    def add(self, key: str, value: bytes, ttl: float) -> defer.Deferred[bool]:
        if self.lru.get(key) is not None:
            return defer.succeed(False)
        self.lru.set(key, value, ttl)
        return defer.succeed(True)

    def delete(self, key: str) -> defer.Deferred[None]:
        self.lru.pop(key)
        return defer.succeed(None)


def _within(clock: IReactorTime, command: defer.Deferred[Any], timeout: float) -> defer.Deferred[Any]:
    """``command``'s result, or a TimeoutError after ``timeout`` seconds.

    The command itself is never cancelled: txredisapi matches replies to commands by
    their order, and a cancelled command would hand its reply to the next one.
    """
    out: defer.Deferred[Any] = defer.Deferred()
    timer = clock.callLater(timeout, lambda: out.called or out.errback(defer.TimeoutError()))

    def finish(result: Any) -> None:
        if timer.active():
            timer.cancel()
        if not out.called:
            out.callback(result)

    command.addBoth(finish)
    return out


class RedisStore:
    """A ``Store`` in Redis; while Redis is unreachable, a ``MemoryStore`` stands in.

    No call waits on a dead Redis: without a live connection the fallback answers
    at once, and every command is given ``timeout`` seconds. A value of the wrong
    type under one of our keys is a miss. Outages are logged when they start (with
    the cause), when the cause changes (at most once a minute) and when they end.
    """

    def __init__(self, clock: IReactorTime, where: Address, ca_file: str, fallback: MemoryStore,
                 timeout: float = 1.0) -> None:
        self._clock = clock
        self._fallback = fallback
        self._timeout = timeout
        self._up: bool | None = None  # None while starting: calls wait up to ``timeout`` for the first answer
        self._down_since = 0.0
        self._logged_at = -OUTAGE_LOG_SECONDS
        self.reason: str | None = None
        self._redis = connect(clock, where, ca_file, timeout, self)

    @property
    def state(self) -> str:
        return "redis" if self._up else "in-process fallback"

    def up(self) -> None:
        """A connection is usable (told by the connection, as its ``Watcher``)."""
        if self._up is False:
            log.info("Redis is back after {seconds:.1f} s: using the shared cache again",
                     seconds=self._clock.seconds() - self._down_since)
        elif self._up is None:
            log.info("Redis connected: using the shared cache")
        self._up, self.reason = True, None

    def down(self, reason: str) -> None:
        """No connection is usable, because of ``reason`` (told by the connection)."""
        now = self._clock.seconds()
        if self._up is not False:
            self._down_since = now
        elif reason == self.reason or now < self._logged_at + OUTAGE_LOG_SECONDS:
            return  # /health keeps showing the cause that was logged
        log.error("Redis unusable ({reason}): serving from the in-process cache, retrying with back-off",
                  reason=reason)
        self._up, self.reason, self._logged_at = False, reason, now

    def _call(self, fallback: Callable[[], defer.Deferred[Any]], name: str, *args: Any, **kwargs: Any) -> defer.Deferred[Any]:
        if self._up is None:
            started = defer.ensureDeferred(poll_until(self._clock, lambda: self._up is not None, self._timeout))
            return started.addCallback(lambda _: self._command(fallback, name, *args, **kwargs))
        return self._command(fallback, name, *args, **kwargs)

    def _command(self, fallback: Callable[[], defer.Deferred[Any]], name: str, *args: Any, **kwargs: Any) -> defer.Deferred[Any]:
        if not self._up:
            return fallback()
        # a timeout drops the connection (txredisapi's replyTimeout): the outage is noted there
        d = _within(self._clock, getattr(self._redis, name)(*args, **kwargs), self._timeout * 2)
        return d.addErrback(lambda _: fallback())

    def get(self, key: str) -> defer.Deferred[bytes | None]:
        return self._call(lambda: self._fallback.get(key), "get", key)

    def set(self, key: str, value: bytes, ttl: float) -> defer.Deferred[None]:
        # kept in the fallback too, so a Redis outage does not lose what this process served
        self._fallback.set(key, value, ttl)
        return self._call(lambda: defer.succeed(None), "set", key, value, expire=max(int(ttl), 1)).addCallback(
            lambda _: None
        )

    def add(self, key: str, value: bytes, ttl: float) -> defer.Deferred[bool]:
        return self._call(
            lambda: self._fallback.add(key, value, ttl), "set", key, value, pexpire=max(int(ttl * 1000), 1),
            only_if_not_exists=True,
        ).addCallback(bool)

    def delete(self, key: str) -> defer.Deferred[None]:
        self._fallback.delete(key)
        return self._call(lambda: defer.succeed(None), "delete", key).addCallback(lambda _: None)

    def disconnect(self) -> defer.Deferred[Any]:
        return self._redis.disconnect()
