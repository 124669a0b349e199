"""Redis as the shared store, falling back to the in-process one while Redis is unreachable."""

from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from pypipin.store.connection import Where, connect
from pypipin.store.memory import MemoryStore
from pypipin.waiting import poll_until

log = Logger()


OUTAGE_LOG_SECONDS = 60  # a changed cause during one outage is logged at most this often


def _within(clock: IReactorTime, command: defer.Deferred[Any], timeout: float) -> defer.Deferred[Any]:
    """``command``'s result, or a TimeoutError after ``timeout`` seconds.

    The command itself is never cancelled: txredisapi matches replies to commands by
    their order, and a cancelled command would hand its reply to the next one.
    """
    out: defer.Deferred[Any] = defer.Deferred()

    def late() -> None:
        if not out.called:
            out.errback(defer.TimeoutError())

    timer = clock.callLater(timeout, late)

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
    the cause), when the cause changes (at most once a minute) and when they end;
    a new server in use (Sentinel promoted another master) once, when it is first used.
    """

    def __init__(
        self,
        clock: IReactorTime,
        where: Where,
        ca_file: str,
        fallback: MemoryStore,
        timeout: float = 1.0,
    ) -> None:
        self._clock = clock
        self._fallback = fallback
        self._timeout = timeout
        self._up: bool | None = None  # None while starting: calls wait up to ``timeout`` for the first answer
        self._down_since = 0.0
        self._logged_at: float = -OUTAGE_LOG_SECONDS
        self.reason: str | None = None
        self.server: str | None = None  # host:port of the Redis last in use
        self._redis = connect(clock, where, ca_file, timeout, self)

    @property
    def state(self) -> str:
        return "redis" if self._up else "in-process fallback"

    def up(self, server: str) -> None:
        """A connection to ``server`` (host:port) is usable (told by the connection, as its ``Watcher``)."""
        if self.server is not None and server != self.server:
            log.warn("Redis master moved from {old} to {new}", old=self.server, new=server)
        self.server = server
        if self._up is False:
            log.info(
                "Redis is back after {seconds:.1f} s: using the shared cache again",
                seconds=self._clock.seconds() - self._down_since,
            )
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
        log.error(
            "Redis unusable ({reason}): serving from the in-process cache, retrying with back-off",
            reason=reason,
        )
        self._up, self.reason, self._logged_at = False, reason, now

    def _call(
        self, fallback: Callable[[], defer.Deferred[Any]], name: str, *args: Any, **kwargs: Any
    ) -> defer.Deferred[Any]:
        if self._up is None:
            started = defer.ensureDeferred(
                poll_until(self._clock, lambda: self._up is not None, self._timeout)
            )
            return started.addCallback(lambda _: self._command(fallback, name, *args, **kwargs))
        return self._command(fallback, name, *args, **kwargs)

    def _command(
        self, fallback: Callable[[], defer.Deferred[Any]], name: str, *args: Any, **kwargs: Any
    ) -> defer.Deferred[Any]:
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
        return self._call(
            lambda: defer.succeed(None), "set", key, value, expire=max(int(ttl), 1)
        ).addCallback(lambda _: None)

    def add(self, key: str, value: bytes, ttl: float) -> defer.Deferred[bool]:
        return self._call(
            lambda: self._fallback.add(key, value, ttl),
            "set",
            key,
            value,
            pexpire=max(int(ttl * 1000), 1),
            only_if_not_exists=True,
        ).addCallback(bool)

    def delete(self, key: str) -> defer.Deferred[None]:
        self._fallback.delete(key)
        return self._call(lambda: defer.succeed(None), "delete", key).addCallback(lambda _: None)

    def remember(self, key: str, member: str, stamp: float) -> defer.Deferred[None]:
        self._fallback.remember(key, member, stamp)
        return self._call(lambda: defer.succeed(None), "zadd", key, stamp, member).addCallback(lambda _: None)

    def recall(self, key: str, since: float) -> defer.Deferred[list[str]]:
        def members(_: Any) -> defer.Deferred[Any]:
            return self._call(lambda: self._fallback.recall(key, since), "zrangebyscore", key, since, "+inf")

        dropped = self._call(lambda: defer.succeed(None), "zremrangebyscore", key, "-inf", f"({since}")
        return dropped.addCallback(members).addCallback(
            lambda names: sorted(name.decode() if isinstance(name, bytes) else name for name in names)
        )

    def take(self, key: str) -> defer.Deferred[list[str]]:
        def removed(names: list[Any]) -> defer.Deferred[Any]:
            taken = sorted(name.decode() if isinstance(name, bytes) else name for name in names)
            if not taken:
                return defer.succeed(taken)
            return self._call(lambda: defer.succeed(None), "zrem", key, *taken).addCallback(lambda _: taken)

        return self._call(lambda: self._fallback.take(key), "zrange", key, 0, -1).addCallback(removed)

    def evaluate(
        self, script: str, keys: list[str], args: list[Any], fallback: Callable[[], defer.Deferred[Any]]
    ) -> defer.Deferred[Any]:
        """The Lua ``script``'s answer, run atomically in Redis; ``fallback()``'s while Redis is
        unreachable."""
        return self._call(fallback, "eval", script, keys, args)

    def disconnect(self) -> defer.Deferred[Any]:
        done: defer.Deferred[Any] = self._redis.disconnect()
        return done
