"""When an upstream may be called: a token bucket, and pauses that 429 Retry-After asks for.

A bucket's arithmetic is two pure functions of its state (tokens, stamp) and the time: ``refilled``
and ``floor``. Kept apart from the Gate, so a shared store's script can repeat them exactly.
"""

from twisted.internet.interfaces import IReactorTime

PROBE_SECONDS = 2.0
RESERVE = 0.5  # of a shared bucket, the part kept back, in proportion, from the clients that spent most


def refilled(tokens: float, stamp: float, now: float, rate: float, burst: float) -> float:
    """What a bucket holding ``tokens`` at ``stamp`` holds at ``now``.

    It refills at ``rate`` a second, up to ``burst``.
    """
    return min(burst, tokens + max(0.0, now - stamp) * rate)


def floor(spent: float, burst: float, units: float = 1.0) -> float:
    """What a client that has spent the fraction ``spent`` (0 to 1) of its own bucket must leave in a shared
    bucket of ``burst``: the more it spent, the sooner the shared bucket refuses it, so the last ``RESERVE``
    of a shared bucket that runs low goes to the clients that spent little (at most ``burst - units``)."""
    return max(0.0, min(spent * burst * RESERVE, burst - units))


class Gate:
    """Admits calls at ``per_minute`` on average (bursts of ``burst``); None means no limit."""

    __slots__ = ("_clock", "_probed", "_stamp", "_tokens", "burst", "paused_until", "rate")

    def __init__(self, clock: IReactorTime, per_minute: float | None = None, burst: float = 5) -> None:
        self._clock = clock
        self.rate = per_minute / 60.0 if per_minute else None  # tokens a second
        self.burst = float(burst)
        self._tokens = float(burst)
        self._stamp = clock.seconds()
        self.paused_until = 0.0
        self._probed = float("-inf")

    def pause(self, seconds: float) -> None:
        """No call for ``seconds`` (upstream's Retry-After)."""
        self.paused_until = max(self.paused_until, self._clock.seconds() + seconds)
        self._probed = self._clock.seconds()  # the first probe comes ``PROBE_SECONDS`` after the 429

    def paused_for(self) -> float:
        return max(self.paused_until - self._clock.seconds(), 0.0)

    def resume(self) -> None:
        """Upstream answered again: end the pause."""
        self.paused_until = 0.0

    def probe(self) -> bool:
        """During a pause, True at most once every ``PROBE_SECONDS``: one call may see if upstream is back."""
        now = self._clock.seconds()
        if now < self._probed + PROBE_SECONDS:
            return False
        self._probed = now
        return True

    def _now(self) -> float:
        """The tokens held now (the bucket brought up to now)."""
        assert self.rate is not None
        now = self._clock.seconds()
        self._tokens = refilled(self._tokens, self._stamp, now, self.rate, self.burst)
        self._stamp = now
        return self._tokens

    def wait(self, keep: float = 0.0) -> float:
        """Seconds until a token is free with ``keep`` tokens left behind (0: one is free now)."""
        if self.rate is None:
            return 0.0
        need = 1 + keep - self._now()
        return 0.0 if need <= 0 else need / self.rate

    def spent(self) -> float:
        """The fraction of the bucket spent and not refilled yet (0: full, 1: empty or in debt)."""
        if self.rate is None:
            return 0.0
        return min(1.0, max(0.0, 1 - self._now() / self.burst))

    def admit(self, tokens: float = 1, keep: float = 0.0) -> bool:
        """Spend ``tokens`` if that many are free now with ``keep`` left behind; else False, nothing spent."""
        if self.rate is None:
            return True
        if self._now() - tokens < keep:
            return False
        self._tokens -= tokens
        return True

    def take(self, tokens: float = 1) -> None:
        """Spend ``tokens``, even ones not there, down to minus a full bucket (a debt refills pay first)."""
        if self.rate is not None:
            self._tokens = max(-self.burst, self._now() - tokens)
