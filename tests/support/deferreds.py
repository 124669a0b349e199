"""What a Deferred or a coroutine gave, for work that needs no reactor turn (in-memory stores, a fake
clock)."""

from typing import Any

from twisted.internet import defer
from twisted.python.failure import Failure


def outcome(work: Any) -> Any:
    """The value or the ``Failure`` (then handled) of a Deferred or coroutine that has already fired."""
    d = defer.ensureDeferred(work)
    given: list[Any] = []
    d.addBoth(lambda value: given.append(value) or value)
    assert given, "still waiting"
    d.addErrback(lambda _: None)
    return given[0]


def result(work: Any) -> Any:
    """The value of a Deferred or coroutine that has already fired; its failure raised."""
    given = outcome(work)
    if isinstance(given, Failure):
        given.raiseException()
    return given
