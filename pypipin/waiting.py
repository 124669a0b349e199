"""Waiting on the reactor's clock."""

from collections.abc import Callable

from twisted.internet import defer, task
from twisted.internet.interfaces import IReactorTime


def sleep(clock: IReactorTime, seconds: float) -> defer.Deferred[None]:
    return task.deferLater(clock, seconds, lambda: None)


async def poll_until(
    clock: IReactorTime, condition: Callable[[], bool], timeout: float, step: float = 0.05
) -> bool:
    """Poll ``condition`` until it is true (True) or ``timeout`` seconds have passed (False)."""
    deadline = clock.seconds() + timeout
    while not condition():
        if clock.seconds() >= deadline:
            return False
        await sleep(clock, step)
    return True
