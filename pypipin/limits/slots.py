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


class _Waiter:
    """One draw waiting for a slot: its client's spend (lower goes first), its turn, its timer."""

    __slots__ = ("order", "spent", "timer", "turn")

    def __init__(self, spent: float, order: int, turn: defer.Deferred[None], timer: IDelayedCall) -> None:
        self.spent, self.order, self.turn, self.timer = spent, order, turn, timer

    def __lt__(self, other: "_Waiter") -> bool:
        return (self.spent, self.order) < (other.spent, other.order)


class Slots:
    """``count`` slots; a draw waits at most ``wait`` seconds for one (then NoSlot)."""

    def __init__(self, clock: IReactorTime, count: int, wait: float) -> None:
        self._clock = clock
        self.count = count
        self._wait = wait
        self.busy = 0
        self._waiting: list[_Waiter] = []  # a heap; a waiter whose turn fired (late, cancelled) is skipped
        self._order = itertools.count()

    @property
    def free(self) -> int:
        return self.count - self.busy

    async def run(self, spent: float, draw: Callable[[], Awaitable[T]]) -> T:
        """``draw()`` in a slot, waiting for one (before those whose client spent more than ``spent``)."""
        if self.busy < self.count:
            self.busy += 1
        else:
            await self._turn(spent)  # the slot is handed over by the draw that ends
        try:
            return await draw()
        finally:
            self._release()

    def _turn(self, spent: float) -> defer.Deferred[None]:
        turn: defer.Deferred[None] = defer.Deferred(lambda d: waiter.timer.cancel())

        def late() -> None:
            turn.errback(NoSlot(f"no slot of {self.count} within {self._wait:g} s"))

        waiter = _Waiter(spent, next(self._order), turn, self._clock.callLater(self._wait, late))
        heapq.heappush(self._waiting, waiter)
        return turn

    def _release(self) -> None:
        """The slot to the first waiter still waiting, else free."""
        while self._waiting:
            waiter = heapq.heappop(self._waiting)
            if not waiter.turn.called:
                waiter.timer.cancel()
                waiter.turn.callback(None)
                return
        self.busy -= 1
