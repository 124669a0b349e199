"""Share one call among everyone who asks for the same key while it runs: in this process,
and across the processes that share one store."""

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from pypipin.data import keys
from pypipin.store.memory import Store
from pypipin.waiting import sleep

T = TypeVar("T")
POLL = 0.05


class SingleFlight:
    def __init__(self) -> None:
        self._waiting: dict[str, list[defer.Deferred[Any]]] = {}

    def __len__(self) -> int:
        return len(self._waiting)

    def __contains__(self, key: str) -> bool:
        """True while a call for ``key`` is under way."""
        return key in self._waiting

    def run(
        self, key: str, start: Callable[[], Coroutine[Any, Any, T] | defer.Deferred[T]]
    ) -> defer.Deferred[T]:
        """The result of ``start()`` (a Deferred or a coroutine), called only if no call for ``key`` is
        under way."""
        waiter: defer.Deferred[T] = defer.Deferred()
        if key in self._waiting:
            self._waiting[key].append(waiter)
            return waiter
        self._waiting[key] = [waiter]

        def done(result: Any) -> None:
            for each in self._waiting.pop(key):
                if each.called:  # cancelled by its caller
                    continue
                if isinstance(result, Failure):
                    each.errback(result)
                else:
                    each.callback(result)

        started: defer.Deferred[T]
        try:
            started = defer.ensureDeferred(start())
        except Exception:
            started = defer.fail()
        started.addBoth(done)
        return waiter


async def across_processes(
    store: Store,
    clock: IReactorTime,
    key: str,
    read: Callable[[], Awaitable[T | None]],
    compute: Callable[[], Awaitable[T]],
    lock_ttl: float,
) -> T:
    """``compute()`` by one of all the processes sharing ``store``; the others ``read()`` its result.

    A lock (``keys.lock(key)``, set only if absent, expiring after ``lock_ttl``) picks
    the process that computes. The others poll ``read()`` until it finds the result;
    if the lock goes away without one (the holder failed or died), they compute too.
    """
    lock = keys.lock(key)
    if await store.add(lock, b"1", lock_ttl):
        try:
            found = await read()  # landed between our miss and our lock
            return found if found is not None else await compute()
        finally:
            await store.delete(lock)
    deadline = clock.seconds() + lock_ttl
    while clock.seconds() < deadline:
        await sleep(clock, POLL)
        found = await read()
        if found is not None:
            return found
        if await store.get(lock) is None:
            break  # the holder is done: one last read, its result may have landed since
    found = await read()
    return found if found is not None else await compute()
