"""The fleet's buckets in memory, on a fake clock: the in-process arithmetic, the share a daemon takes of
each rate from the fleet's size it last saw, the heartbeat that reads that size, and Redis's checks
falling back to the in-process buckets while Redis is unreachable."""

from typing import Any

from twisted.internet import defer
from twisted.internet.task import Clock

from pypipin.limits.shared import (
    HEARTBEAT_SECONDS,
    Bucket,
    Fleet,
    LocalBuckets,
    RedisBuckets,
    heartbeat,
)
from tests.support.deferreds import result

NAMES = Bucket("names:a", rate=1.0, burst=3)


def test_a_bucket_admits_its_burst_then_its_rate() -> None:
    clock = Clock()
    buckets = LocalBuckets(clock)
    assert [result(buckets.admit(NAMES)) for _ in range(4)] == [True, True, True, False]
    clock.advance(1)
    assert result(buckets.admit(NAMES)) and not result(buckets.admit(NAMES))
    result(buckets.take(NAMES, 2))  # a debt: paid first by the refill
    clock.advance(2)
    assert not result(buckets.admit(NAMES))
    clock.advance(1)
    assert result(buckets.admit(NAMES))


def test_without_redis_a_daemon_takes_its_share_of_the_fleet() -> None:
    clock = Clock()
    fleet = Fleet()
    buckets = LocalBuckets(clock, fleet)
    fleet.saw(3)
    for _ in range(3):
        assert result(buckets.admit(NAMES))
    clock.advance(1)
    assert not result(buckets.admit(NAMES))  # a third of a token in a second
    clock.advance(2)
    assert result(buckets.admit(NAMES))
    fleet.saw(0)  # never below the known minimum
    assert fleet.size == 1


def test_a_claim_takes_from_the_gate_and_the_share_together() -> None:
    clock = Clock()
    buckets = LocalBuckets(clock)
    gate = Bucket("upstream pypi", rate=1.0, burst=4)
    mine, other = Bucket("upstream pypi:a", 0.25, 1), Bucket("upstream pypi:b", 0.25, 1)
    assert result(buckets.claim(mine, gate)) == (0.0, 0.0)
    wait, all_wait = result(buckets.claim(mine, gate))
    assert wait == 4.0 and all_wait == 0.0  # held back by its own share, not by the gate
    assert result(buckets.claim(other, gate)) == (0.0, 0.0)  # nothing taken by the refused claim
    for _ in range(2):
        assert result(buckets.claim(None, gate))[0] == 0.0
    wait, all_wait = result(buckets.claim(None, gate))
    assert wait == all_wait == 1.0


class Down:
    """A Redis that is unreachable: every script answers with its fallback."""

    def __init__(self) -> None:
        self.scripts: list[tuple[list[str], list[Any]]] = []

    def evaluate(self, script: str, keys: list[str], args: list[Any], fallback: Any) -> defer.Deferred[Any]:
        self.scripts.append((keys, args))
        done: defer.Deferred[Any] = fallback()
        return done


def test_redis_buckets_fall_back_to_this_daemons_share() -> None:
    clock = Clock()
    fleet = Fleet(minimum=2)
    redis = Down()
    buckets = RedisBuckets(redis, LocalBuckets(clock, fleet))
    assert [result(buckets.admit(NAMES)) for _ in range(4)] == [True, True, True, False]
    clock.advance(1)
    assert not result(buckets.admit(NAMES))  # half a token: this daemon's share of two
    clock.advance(1)
    assert result(buckets.admit(NAMES))
    assert redis.scripts[0] == (["names:a"], ["admit", 1, 1.0, 3])


def test_the_heartbeat_reads_the_fleets_size() -> None:
    clock = Clock()
    fleet = Fleet()
    sizes = [3, None]  # the second beat finds Redis down: the size last seen is kept

    class Redis:
        def evaluate(self, script: str, keys: list[str], args: list[Any], fallback: Any) -> Any:
            size = sizes.pop(0)
            return fallback() if size is None else defer.succeed(size)

    beating = heartbeat(clock, Redis(), fleet)
    beating.startService()
    assert fleet.size == 3
    clock.advance(HEARTBEAT_SECONDS)
    assert fleet.size == 3 and not sizes
    beating.stopService()
