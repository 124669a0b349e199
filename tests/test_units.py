"""The small mechanisms on a fake clock: LRU bounds, the rate gate, single-flight in a process and across
processes, Redis timeouts."""

import pytest
from twisted.internet import defer, task

from pypipin.store.lru import LRU
from pypipin.store.memory import MemoryStore
from pypipin.store.redis import _within
from pypipin.limits.bucket import Gate
from pypipin.data.singleflight import SingleFlight, across_processes


def test_lru_bounded_by_entries_bytes_and_time() -> None:
    clock = task.Clock()
    lru = LRU(clock, max_entries=3, max_bytes=100)
    for key in "abcd":
        lru.set(key, b"x" * 10, ttl=60)
    assert len(lru) == 3 and lru.get("a") is None  # the oldest went first
    lru.get("b")  # b is now the most recently used
    lru.set("e", b"y" * 60, ttl=60)
    assert lru.get("c") is None and lru.get("b") == b"x" * 10 and lru.bytes <= 100
    lru.set("huge", b"z" * 200, ttl=60)
    assert lru.get("huge") is None  # larger than the whole cache: not kept
    clock.advance(61)
    assert lru.get("b") is None and lru.get("e") is None


def test_lru_keeps_a_frequently_hit_entry_through_a_scan_of_one_hit_entries() -> None:
    clock = task.Clock()
    lru = LRU(clock, max_entries=100, max_bytes=1 << 20)
    lru.set("hot", b"h", ttl=60)
    lru.get("hot")  # hit again: protected
    for n in range(200):  # twice the cache in entries asked for once (a plain LRU loses "hot" here)
        lru.set(f"scan{n}", b"s", ttl=60)
    assert lru.get("hot") == b"h"
    assert len(lru) == 100 and lru.get("scan0") is None and lru.get("scan199") == b"s"
    lru.set("hot", b"new", ttl=60)  # set anew, it stays protected
    for n in range(200, 400):
        lru.set(f"scan{n}", b"s", ttl=60)
    assert lru.get("hot") == b"new"
    lru.pop("hot")
    assert lru.get("hot") is None and len(lru) == 99 and lru.bytes == sum(len(f"scan{n}") + 1 for n in range(301, 400))


def test_lru_protects_at_most_most_of_it() -> None:
    clock = task.Clock()
    lru = LRU(clock, max_entries=10, max_bytes=1 << 20)
    for n in range(10):  # all hit twice: only 8 can be protected, the rest go back on probation
        lru.set(n.to_bytes(1, "big"), b"v", ttl=60)
        lru.get(n.to_bytes(1, "big"))
    lru.set(b"new", b"v", ttl=60)  # room is made on probation: the least recently protected-then-demoted go
    assert lru.get(b"\x00") is None and all(lru.get(n.to_bytes(1, "big")) for n in range(2, 10))
    assert len(lru) == 10


def test_gate_token_bucket_and_pause() -> None:
    clock = task.Clock()
    gate = Gate(clock, per_minute=6, burst=2)
    for _ in range(2):
        assert gate.wait() == 0
        gate.take()
    assert gate.wait() == 10.0  # one token every 10 s
    clock.advance(10)
    assert gate.wait() == 0
    gate.pause(30)
    assert gate.paused_for() == 30
    clock.advance(31)
    assert gate.paused_for() == 0
    assert Gate(clock).wait() == 0  # no rate: never waits


def test_single_flight_shares_one_call_and_survives_a_cancelled_waiter() -> None:
    calls = []
    pending: defer.Deferred[str] = defer.Deferred()
    flights = SingleFlight()

    def start() -> defer.Deferred[str]:
        calls.append(1)
        return pending

    first, second, third = (flights.run("k", start) for _ in range(3))
    second.cancel()
    second.addErrback(lambda failure: failure.trap(defer.CancelledError))
    pending.callback("done")
    assert calls == [1] and len(flights) == 0
    assert [first.result, third.result] == ["done", "done"]


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


def test_across_processes_one_computes_the_others_read_its_result() -> None:
    clock = task.Clock()
    store = MemoryStore(LRU(clock, 100, 1 << 20))
    computed: list[str] = []
    pending: defer.Deferred[str] = defer.Deferred()

    async def read() -> str | None:
        return await store.get("k")

    async def compute() -> str:
        computed.append("one")
        value = await pending
        await store.set("k", value, 60)
        return value

    first = defer.ensureDeferred(across_processes(store, clock, "k", read, compute, lock_ttl=5))
    second = defer.ensureDeferred(across_processes(store, clock, "k", read, compute, lock_ttl=5))
    clock.advance(1)
    assert not second.called  # polling the store while the first one computes
    pending.callback("value")
    clock.advance(0.1)
    assert (first.result, second.result) == ("value", "value") and computed == ["one"]
    assert store.lru.get("k:lock") is None  # the lock is given back


def test_across_processes_computes_itself_when_the_lock_holder_died() -> None:
    clock = task.Clock()
    store = MemoryStore(LRU(clock, 100, 1 << 20))
    store.add("k:lock", b"1", 2)  # held by a process that died

    async def read() -> str | None:
        return None

    async def compute() -> str:
        return "mine"

    d = defer.ensureDeferred(across_processes(store, clock, "k", read, compute, lock_ttl=2))
    clock.advance(1.9)
    assert not d.called
    clock.advance(0.2)  # the lock expired without a result
    assert d.result == "mine"


def test_redis_outage_lines_once_when_it_goes_once_when_back_and_a_changed_cause_once_a_minute() -> None:
    from twisted.internet.testing import MemoryReactorClock
    from twisted.logger import capturedLogs, formatEvent

    from pypipin.store.lru import LRU
    from pypipin.store.memory import MemoryStore
    from pypipin.store.redis import RedisStore
    from pypipin.store.connection import address

    clock = MemoryReactorClock()  # records the connection attempt; nothing answers it
    store = RedisStore(clock, address("redis://127.0.0.1:6379/0"), "", MemoryStore(LRU(clock, 10, 1000)))
    with capturedLogs() as events:
        store.up()
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
        store.up()
    lines = [formatEvent(event) for event in events]
    assert lines == [
        "Redis connected: using the shared cache",
        "Redis unusable (Connection refused): serving from the in-process cache, retrying with back-off",
        "Redis unusable (could not auth: WRONGPASS): serving from the in-process cache, retrying with back-off",
        "Redis is back after 117.5 s: using the shared cache again",
    ]
    assert (store.state, store.reason) == ("redis", None)


@pytest.mark.parametrize("uri, agent", [
    (b"/v/demo/badge.svg?style=flat", b"Mozilla/5.0 (X11; Linux x86_64)"),
    (b'/v/"quoted"\\back\x01\x7f\xff', b'agent "007"\\ \xc3\xa9'),
    (b"/" + b"a" * 300, None),  # too long to be remembered, and no agent
])
def test_combined_line_is_twisteds_combined_format(uri: bytes, agent: bytes | None) -> None:
    from twisted.web.http import combinedLogFormatter
    from twisted.web.test.requesthelper import DummyRequest

    from pypipin.web.access_log import combined_line
    from pypipin.web.state import RequestState

    request = DummyRequest([b""])
    request.uri, request.method, request.clientproto, request.code, request.sentLength = (
        uri, b"GET", b"HTTP/1.1", 200, 1234)
    if agent is not None:
        request.requestHeaders.setRawHeaders(b"user-agent", [agent])
    request.requestHeaders.setRawHeaders(b"referer", [b"https://github.com/x/y"])
    for _ in range(2):  # escaped, then remembered
        assert combined_line("[t]", request, RequestState()) == combinedLogFormatter("[t]", request).encode()
