"""Node's slots of one daemon, handed out by need: while none is free, the waiting draw whose client has
drawn least goes first, so a client new to a crowd waits behind one render at most, not behind the crowd."""

import heapq
import itertools
from collections.abc import Awaitable, Callable
from typing import TypeVar

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime

T = TypeVar("T")


class NoSlot(Exception):
    """No slot came free within the wait."""


class Slots:
    """``count`` slots. A slot freed is handed on at the reactor's next turn, once what the draw used (a
    pooled connection) is back for the next one."""

    def __init__(self, clock: IReactorTime, count: int) -> None:
        self._clock = clock
        self.count = count
        self.busy = 0
        # a heap of (client's spend, order, turn, timer): a turn that fired (late, cancelled) is skipped
        self._waiting: list[tuple[float, int, defer.Deferred[None], IDelayedCall]] = []
        self._order = itertools.count()

    @property
    def free(self) -> int:
        return self.count - self.busy

    async def run(self, spent: float, wait: float, draw: Callable[[], Awaitable[T]]) -> T:
        """``draw()`` in a slot, waiting for one at most ``wait`` seconds (then NoSlot), before the draws
        whose client spent more than ``spent``."""
        if self.busy < self.count:
            self.busy += 1
        else:
            await self._turn(spent, wait)  # the slot is handed over by the draw that ends
        try:
            return await draw()
        finally:
            self._clock.callLater(0, self._release)

    def _turn(self, spent: float, wait: float) -> defer.Deferred[None]:
        turn: defer.Deferred[None] = defer.Deferred(lambda d: timer.cancel())

        def late() -> None:
            turn.errback(NoSlot(f"no slot of {self.count} within {wait:g} s"))

        timer = self._clock.callLater(max(0.0, wait), late)
        heapq.heappush(self._waiting, (spent, next(self._order), turn, timer))
        return turn

    def _release(self) -> None:
        """The slot to the first waiter still waiting, else free."""
        while self._waiting:
            _, _, turn, timer = heapq.heappop(self._waiting)
            if not turn.called:
                timer.cancel()
                turn.callback(None)
                return
        self.busy -= 1
