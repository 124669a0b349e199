"""Single-flight in a process and across processes (a lock in the store), on a fake clock."""

from twisted.internet import defer, task

from pypipin.data.singleflight import SingleFlight, across_processes
from pypipin.store.lru import LRU
from pypipin.store.memory import MemoryStore


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
