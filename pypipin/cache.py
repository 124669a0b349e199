"""Key-value stores: a bounded in-process LRU, and Redis that falls back to it."""

from collections import OrderedDict
from typing import Any, Callable, Protocol
from urllib.parse import urlsplit

import txredisapi
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from pypipin.waiting import poll_until

log = Logger()

SHUN_SECONDS = 5
KEY_PREFIX = "pypipin:1:"  # of every key pypipin writes; changes when stored values change shape


class LRU:
    """A dict bounded by entry count and total bytes, with an expiry per entry.

    Keys are str or bytes; values are anything with a ``len()`` in bytes.
    """

    def __init__(self, clock: IReactorTime, max_entries: int, max_bytes: int) -> None:
        self._clock = clock
        self._entries: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Any) -> Any:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock.seconds():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def set(self, key: Any, value: Any, ttl: float) -> None:
        if key in self._entries:
            self._drop(key)
        size = len(key) + len(value)
        if size > self.max_bytes:
            return
        self._entries[key] = (self._clock.seconds() + ttl, value)
        self.bytes += size
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def pop(self, key: Any) -> None:
        if key in self._entries:
            self._drop(key)

    def _drop(self, key: Any) -> None:
        _, value = self._entries.pop(key)
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


class MemoryStore:
    """A ``Store`` kept in this process only."""

    state = "in-process"

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
    type under one of our keys is a miss.
    """

    def __init__(self, clock: IReactorTime, url: str, fallback: MemoryStore, timeout: float = 1.0) -> None:
        parts = urlsplit(url)
        self._clock = clock
        self._fallback = fallback
        self._timeout = timeout
        self._redis = txredisapi.lazyConnectionPool(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 6379,
            dbid=int(parts.path.strip("/") or 0),
            password=parts.password,
            poolsize=4,
            charset=None,
            connectTimeout=timeout,
        )
        # txredisapi backs off up to 10 s between attempts; be back within a few seconds
        self._redis._factory.maxDelay = 2
        self._shunned_until = 0.0
        self._up: bool | None = None  # None while starting: calls wait up to ``timeout`` for the pool
        self._starting = defer.ensureDeferred(poll_until(clock, lambda: self.connected, timeout))
        self._starting.addCallback(self._note).addErrback(lambda failure: failure.trap(defer.CancelledError))

    @property
    def connected(self) -> bool:
        # the pool's factory counts live connections; txredisapi has no public flag for it
        return self._redis._factory.size > 0

    @property
    def state(self) -> str:
        return "redis" if self.connected else "in-process fallback"

    def _note(self, up: bool) -> None:
        if up != self._up:
            self._up = up
            if up:
                log.info("Redis connected: using the shared cache")
            else:
                log.warn("Redis unreachable: serving from the in-process cache until it is back")

    def _call(self, fallback: Callable[[], defer.Deferred[Any]], name: str, *args: Any, **kwargs: Any) -> defer.Deferred[Any]:
        if self._up is None and not self.connected:
            started = defer.ensureDeferred(poll_until(self._clock, lambda: self.connected, self._timeout))
            return started.addCallback(lambda _: self._command(fallback, name, *args, **kwargs))
        return self._command(fallback, name, *args, **kwargs)

    def _command(self, fallback: Callable[[], defer.Deferred[Any]], name: str, *args: Any, **kwargs: Any) -> defer.Deferred[Any]:
        if not self.connected:
            self._note(False)
            return fallback()
        if self._clock.seconds() < self._shunned_until:
            return fallback()
        d = _within(self._clock, getattr(self._redis, name)(*args, **kwargs), self._timeout)

        def done(result: Any) -> Any:
            self._note(True)
            return result

        def failed(failure: Failure) -> defer.Deferred[Any]:
            if failure.check(defer.TimeoutError):
                # a hung Redis would cost every request a timeout per command: skip it for a while
                log.warn("Redis did not answer within {timeout} s: in-process cache for {pause} s",
                         timeout=self._timeout, pause=SHUN_SECONDS)
                self._shunned_until = self._clock.seconds() + SHUN_SECONDS
            self._note(self.connected)  # a WRONGTYPE reply is no outage
            return fallback()

        return d.addCallbacks(done, failed)

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
        self._starting.cancel()
        return self._redis.disconnect()
