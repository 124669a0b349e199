"""The rate gate (a token bucket) on a fake clock: its rate, a pause, and probes during a pause."""

from twisted.internet import task
from twisted.internet.task import Clock

from pypipin.limits.bucket import PROBE_SECONDS, Gate


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


def test_gate_probes_once_in_a_while_during_a_pause() -> None:
    clock = Clock()
    gate = Gate(clock)
    gate.pause(60)
    assert not gate.probe()  # the 429 was the last look
    clock.advance(PROBE_SECONDS)
    assert gate.probe() and not gate.probe()
    clock.advance(PROBE_SECONDS)
    assert gate.probe()
    gate.resume()
    assert gate.paused_for() == 0
