"""Token buckets shared by the fleet: one Lua script per check in Redis, in-process buckets at this
daemon's share of the rates while Redis is unreachable (or with no Redis at all).

Every daemon of a fleet that shares a Redis draws from the same buckets, so a limit is the fleet's,
however many daemons serve. The script repeats ``bucket.refilled`` and ``bucket.floor`` exactly, on
the Redis server's clock (``TIME``), never a daemon's. Each daemon keeps a heartbeat in Redis; the
fleet's size it last saw is what its in-process buckets divide the rates by.
"""

import os
import socket
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from twisted.application.internet import TimerService
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from pypipin.data import keys
from pypipin.limits.bucket import RESERVE, Gate, floor

log = Logger()

HEARTBEAT_SECONDS = 5.0  # how often a daemon says it is alive
HEARTBEAT_TTL = 15.0  # a daemon not heard from this long is no longer counted


@dataclass(frozen=True)
class Bucket:
    """A bucket of the fleet: its key, its refill (tokens a second) and its size."""

    key: str
    rate: float
    burst: float


class Buckets(Protocol):
    """Buckets by key, made full on first use."""

    def admit(self, bucket: Bucket, units: float = 1) -> defer.Deferred[bool]:
        """Spend ``units`` if that many are free now; else False, nothing spent."""

    def take(self, bucket: Bucket, units: float = 1) -> defer.Deferred[None]:
        """Spend ``units``, even ones not there (down to minus a full bucket)."""

    def spent(self, bucket: Bucket) -> defer.Deferred[float]:
        """The fraction of ``bucket`` spent and not refilled yet (0: full, 1: empty or in debt); nothing
        is spent."""

    def claim(self, share: Bucket | None, gate: Bucket) -> defer.Deferred[tuple[float, float]]:
        """One call through ``gate``, drawn from a client's ``share`` of it too: ``(wait, gate's wait)``.

        ``wait`` is 0 when a token was taken from both; else the seconds until both have one, with
        the part ``floor`` asks for left in ``gate`` (nothing was taken). ``gate's wait`` is the
        gate's alone, ``floor`` left aside: what all clients together hold back.
        """


class Fleet:
    """The daemons sharing a Redis, as this one last saw them: at least ``minimum`` (the daemon itself, or
    the workers it knows it has)."""

    def __init__(self, minimum: int = 1) -> None:
        self.minimum = minimum
        self.size = minimum
        self.member = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def saw(self, size: int) -> None:
        """The heartbeats in Redis count ``size`` daemons."""
        size = max(self.minimum, size)
        if size != self.size:
            log.info("Fleet size: {size} daemons share the limits", size=size)
        self.size = size


class LocalBuckets:
    """In-process buckets, each refilled at its rate divided by the fleet's size (this daemon's share; the
    burst stays whole, so what costs many units at once still fits).

    At most ``max_buckets`` are remembered; the least recently used are forgotten (made full again).
    """

    def __init__(self, clock: IReactorTime, fleet: Fleet | None = None, max_buckets: int = 50_000) -> None:
        self._clock = clock
        self._fleet = fleet or Fleet()
        self._max_buckets = max_buckets
        self._gates: OrderedDict[str, Gate] = OrderedDict()

    def gate(self, bucket: Bucket) -> Gate:
        """The in-process gate of ``bucket``, at this daemon's share of its rate."""
        gate = self._gates.get(bucket.key)
        if gate is None:
            gate = self._gates[bucket.key] = Gate(self._clock, bucket.rate * 60, burst=bucket.burst)
            if len(self._gates) > self._max_buckets:
                self._gates.popitem(last=False)
        else:
            self._gates.move_to_end(bucket.key)
        gate.rate = bucket.rate / self._fleet.size
        return gate

    def admit(self, bucket: Bucket, units: float = 1) -> defer.Deferred[bool]:
        return defer.succeed(self.gate(bucket).admit(units))

    def take(self, bucket: Bucket, units: float = 1) -> defer.Deferred[None]:
        self.gate(bucket).take(units)
        return defer.succeed(None)

    def spent(self, bucket: Bucket) -> defer.Deferred[float]:
        return defer.succeed(self.gate(bucket).spent())

    def claim(self, share: Bucket | None, gate: Bucket) -> defer.Deferred[tuple[float, float]]:
        shared = self.gate(gate)
        mine = self.gate(share) if share is not None else None
        keep = floor(mine.spent(), shared.burst) if mine is not None else 0.0
        wait = max(mine.wait() if mine is not None else 0.0, shared.wait(keep))
        if not wait:
            shared.take()
            if mine is not None:
                mine.take()
        return defer.succeed((wait, shared.wait()))


# KEYS: the buckets; ARGV: the check (admit, take, spent, claim), units, then each bucket's rate and burst.
# A bucket is a hash (tokens, stamp) that expires once it would be full again.
SCRIPT = f"""
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1e6
local units = tonumber(ARGV[2])
local function load(i)
  local rate, burst = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  local held = redis.call('HMGET', KEYS[i], 'tokens', 'stamp')
  local tokens, stamp = tonumber(held[1]) or burst, tonumber(held[2]) or now
  return {{tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate), rate = rate, burst = burst}}
end
local function save(i, b)
  redis.call('HSET', KEYS[i], 'tokens', b.tokens, 'stamp', now)
  redis.call('PEXPIRE', KEYS[i], math.ceil((b.burst - b.tokens) / b.rate * 1000) + 1000)
end
local function spent(b)
  return math.min(1, math.max(0, 1 - b.tokens / b.burst))
end
local function wait(b, keep)
  local need = 1 + keep - b.tokens
  if need <= 0 then return 0 end
  return need / b.rate
end
if ARGV[1] == 'admit' then
  local b = load(1)
  if b.tokens - units < 0 then return 0 end
  b.tokens = b.tokens - units
  save(1, b)
  return 1
elseif ARGV[1] == 'take' then
  local b = load(1)
  b.tokens = math.max(-b.burst, b.tokens - units)
  save(1, b)
  return 1
elseif ARGV[1] == 'spent' then
  return tostring(spent(load(1)))
end
local gate = load(#KEYS)
local keep, mine = 0, 0
local share = nil
if #KEYS == 2 then
  share = load(1)
  keep = math.max(0, math.min(spent(share) * gate.burst * {RESERVE}, gate.burst - 1))
  mine = wait(share, 0)
end
local late = math.max(mine, wait(gate, keep))
if late == 0 then
  gate.tokens = gate.tokens - 1
  save(#KEYS, gate)
  if share then
    share.tokens = share.tokens - 1
    save(1, share)
  end
end
return {{tostring(late), tostring(wait(gate, 0))}}
"""


class Evaluator(Protocol):
    """What runs a script in the shared store (``RedisStore.evaluate``)."""

    def evaluate(
        self, script: str, keys: list[str], args: list[Any], fallback: Callable[[], defer.Deferred[Any]]
    ) -> defer.Deferred[Any]: ...


class RedisBuckets:
    """The fleet's buckets in Redis, each check one script; ``local`` stands in while Redis is
    unreachable."""

    def __init__(self, redis: Evaluator, local: LocalBuckets) -> None:
        self._redis = redis
        self._local = local

    def _run(
        self, check: str, buckets: list[Bucket], units: float, fallback: Callable[[], defer.Deferred[Any]]
    ) -> defer.Deferred[Any]:
        args: list[Any] = [check, units]
        for bucket in buckets:
            args += [bucket.rate, bucket.burst]
        return self._redis.evaluate(SCRIPT, [bucket.key for bucket in buckets], args, fallback)

    def admit(self, bucket: Bucket, units: float = 1) -> defer.Deferred[bool]:
        done = self._run("admit", [bucket], units, lambda: self._local.admit(bucket, units))
        return done.addCallback(bool)

    def take(self, bucket: Bucket, units: float = 1) -> defer.Deferred[None]:
        done = self._run("take", [bucket], units, lambda: self._local.take(bucket, units))
        return done.addCallback(lambda _: None)

    def spent(self, bucket: Bucket) -> defer.Deferred[float]:
        return self._run("spent", [bucket], 0, lambda: self._local.spent(bucket)).addCallback(float)

    def claim(self, share: Bucket | None, gate: Bucket) -> defer.Deferred[tuple[float, float]]:
        buckets = [gate] if share is None else [share, gate]
        done = self._run("claim", buckets, 1, lambda: self._local.claim(share, gate))
        return done.addCallback(lambda waits: (float(waits[0]), float(waits[1])))


# KEYS: the fleet's sorted set; ARGV: this daemon, the seconds a member is counted
HEARTBEAT = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1e6
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 1000))
return redis.call('ZCARD', KEYS[1])
"""


def heartbeat(clock: IReactorTime, redis: Evaluator, fleet: Fleet) -> TimerService:
    """A service that, every ``HEARTBEAT_SECONDS``, puts this daemon's heartbeat in Redis and reads the
    fleet's size back (kept as it was while Redis is unreachable)."""

    def beat() -> defer.Deferred[None]:
        done = redis.evaluate(
            HEARTBEAT, [keys.fleet()], [fleet.member, HEARTBEAT_TTL], lambda: defer.succeed(None)
        )
        return done.addCallback(lambda size: fleet.saw(int(size)) if size is not None else None)

    beating = TimerService(HEARTBEAT_SECONDS, beat)
    beating.clock = clock
    return beating
