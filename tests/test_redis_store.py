"""RedisStore in memory: timeouts never cancel a command; outage lines once when it goes, once when back."""

from twisted.internet import defer, task

from pypipin.store.redis import _within


def test_redis_timeout_never_cancels_the_command() -> None:
    clock = task.Clock()
    cancelled = []
    command: defer.Deferred[bytes] = defer.Deferred(cancelled.append)
    answer = _within(clock, command, 1.0)
    failures = []
    answer.addErrback(failures.append)
    clock.advance(1.0)
    assert failures and failures[0].check(defer.TimeoutError)
    assert not cancelled  # txredisapi would hand this command's reply to the next one
    command.callback(b"late reply")
    assert answer.called and not cancelled


def test_redis_outage_lines_once_when_it_goes_once_when_back_and_a_changed_cause_once_a_minute() -> None:
    from twisted.internet.testing import MemoryReactorClock
    from twisted.logger import capturedLogs, formatEvent

    from pypipin.store.connection import address
    from pypipin.store.lru import LRU
    from pypipin.store.memory import MemoryStore
    from pypipin.store.redis import RedisStore

    clock = MemoryReactorClock()  # records the connection attempt; nothing answers it
    store = RedisStore(clock, address("redis://127.0.0.1:6379/0"), "", MemoryStore(LRU(clock, 10, 1000)))
    with capturedLogs() as events:
        store.up("127.0.0.1:6379")
        store.down("Connection refused")
        for _ in range(5):  # every retry fails the same way
            clock.advance(15)
            store.down("Connection refused")
        clock.advance(30)
        store.down("could not auth: WRONGPASS")  # a new cause, over a minute after the last line
        clock.advance(10)
        store.down("Connection refused")  # another, within the minute: kept quiet
        assert (store.state, store.reason) == ("in-process fallback", "could not auth: WRONGPASS")
        clock.advance(2.5)
        store.up("127.0.0.1:6379")
    lines = [formatEvent(event) for event in events]
    assert lines == [
        "Redis connected: using the shared cache",
        "Redis unusable (Connection refused): serving from the in-process cache, retrying with back-off",
        "Redis unusable (could not auth: WRONGPASS): "
        "serving from the in-process cache, retrying with back-off",
        "Redis is back after 117.5 s: using the shared cache again",
    ]
    assert (store.state, store.reason) == ("redis", None)


def test_a_new_master_is_logged_once_when_first_used_and_health_names_it() -> None:
    from twisted.internet.testing import MemoryReactorClock
    from twisted.logger import capturedLogs, formatEvent

    from pypipin.store.connection import address
    from pypipin.store.lru import LRU
    from pypipin.store.memory import MemoryStore
    from pypipin.store.redis import RedisStore

    clock = MemoryReactorClock()
    store = RedisStore(clock, address("redis://127.0.0.1:6379/0"), "", MemoryStore(LRU(clock, 10, 1000)))
    with capturedLogs() as events:
        store.up("127.0.0.1:7001")
        store.down("Connection refused")
        clock.advance(3)
        store.up("127.0.0.1:7002")  # Sentinel promoted the replica
        store.down("Connection lost")
        store.up("127.0.0.1:7002")  # the same master again: no move
    moves = [formatEvent(event) for event in events if "moved" in formatEvent(event)]
    assert moves == ["Redis master moved from 127.0.0.1:7001 to 127.0.0.1:7002"]
    assert store.server == "127.0.0.1:7002"
