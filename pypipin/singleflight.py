"""Share one call among everyone who asks for the same key while it runs."""

from typing import Any, Awaitable, Callable

from twisted.internet import defer
from twisted.python.failure import Failure


class SingleFlight:
    def __init__(self) -> None:
        self._waiting: dict[str, list[defer.Deferred[Any]]] = {}

    def __len__(self) -> int:
        return len(self._waiting)

    def run(self, key: str, start: Callable[[], Awaitable[Any]]) -> defer.Deferred[Any]:
        """The result of ``start()`` (a Deferred or a coroutine), called only if no call for ``key`` is under way."""
        waiter: defer.Deferred[Any] = defer.Deferred()
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

        try:
            started = defer.ensureDeferred(start())
        except Exception:
            started = defer.fail()
        started.addBoth(done)
        return waiter
