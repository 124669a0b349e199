"""Node's slots (``pypipin.limits.slots``): a draw that waits goes before those whose client drew more;
a wait ends after ``wait`` seconds, a client gone gives its place up, and a slot freed is handed on at the
next turn."""

import pytest
from twisted.internet import defer
from twisted.internet.task import Clock

from pypipin.limits.slots import NoSlot, Slots


def hold(
    slots: Slots, spent: float, log: list[str], name: str
) -> tuple[defer.Deferred[str], defer.Deferred[str]]:
    """A draw in a slot that lasts until the second Deferred fires; the first is the draw's result."""
    done: defer.Deferred[str] = defer.Deferred()

    def draw() -> defer.Deferred[str]:
        log.append(name)
        return done

    return defer.ensureDeferred(slots.run(spent, 1.0, draw)), done


def test_a_waiting_draw_of_a_client_that_drew_less_goes_first() -> None:
    clock, log = Clock(), []
    slots = Slots(clock, 2)
    first, first_done = hold(slots, 0.9, log, "first")
    _, second_done = hold(slots, 0.9, log, "second")
    crowd = [hold(slots, 0.5, log, f"crowd{n}") for n in range(3)]
    newcomer, newcomer_done = hold(slots, 0.0, log, "newcomer")
    assert log == ["first", "second"] and slots.free == 0
    first_done.callback("one")
    assert first.result == "one" and log == ["first", "second"]  # handed on at the next turn
    clock.advance(0)
    assert log[-1] == "newcomer"  # ahead of the crowd that came before it
    second_done.callback("two")
    newcomer_done.callback("three")
    clock.advance(0)
    assert log[-2:] == ["crowd0", "crowd1"]  # then in the order they came
    for _, done in crowd[:2]:
        done.callback("drawn")
    clock.advance(0)
    assert log[-1] == "crowd2" and slots.busy == 1
    crowd[2][1].callback("drawn")
    clock.advance(0)
    assert slots.busy == 0 and newcomer.result == "three"


def test_a_draw_waits_at_most_wait_and_a_cancelled_one_gives_its_place_up() -> None:
    clock, log = Clock(), []
    slots = Slots(clock, 1)
    _, busy_done = hold(slots, 0.0, log, "busy")
    gone, _ = hold(slots, 0.0, log, "gone")
    late, _ = hold(slots, 0.5, log, "late")
    gone.cancel()
    gone.addErrback(lambda failure: failure.trap(defer.CancelledError))
    clock.advance(1.0)
    with pytest.raises(NoSlot):
        late.result.raiseException()
    late.addErrback(lambda _: None)
    busy_done.callback("done")
    clock.advance(0)
    assert log == ["busy"] and slots.busy == 0 and not clock.getDelayedCalls()
