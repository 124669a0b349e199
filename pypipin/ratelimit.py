"""When an upstream may be called: a token bucket, and pauses that 429 Retry-After asks for."""

from twisted.internet.interfaces import IReactorTime

PROBE_SECONDS = 2.0


class Gate:
    """Admits calls at ``per_minute`` on average (bursts of ``burst``); None means no limit."""

    __slots__ = ("_clock", "_rate", "_burst", "_tokens", "_stamp", "paused_until", "_probed")

    def __init__(self, clock: IReactorTime, per_minute: float | None = None, burst: int = 5) -> None:
        self._clock = clock
        self._rate = per_minute / 60.0 if per_minute else None
        self._burst = float(burst)
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

    def wait(self) -> float:
        """Seconds until a token is free (0: one is free now)."""
        if self._rate is None:
            return 0.0
        now = self._clock.seconds()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self._rate

    def admit(self, tokens: int = 1) -> bool:
        """Spend ``tokens`` if that many are free now; False (and nothing spent) when not."""
        if self._rate is None:
            return True
        self.wait()  # brings the bucket up to now
        if self._tokens < tokens:
            return False
        self._tokens -= tokens
        return True

    def refund(self) -> None:
        """Give back a token spent on a call that turned out not to count."""
        if self._rate is not None:
            self._tokens = min(self._burst, self._tokens + 1)

    def take(self) -> None:
        """Spend a token; call only when ``wait()`` has just said 0."""
        if self._rate is not None:
            self._tokens -= 1
