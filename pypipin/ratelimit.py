"""When an upstream may be called: a token bucket, and pauses that 429 Retry-After asks for."""

from twisted.internet.interfaces import IReactorTime


class Gate:
    """Admits calls at ``per_minute`` on average (bursts of ``burst``); None means no limit."""

    def __init__(self, clock: IReactorTime, per_minute: float | None = None, burst: int = 5) -> None:
        self._clock = clock
        self._rate = per_minute / 60.0 if per_minute else None
        self._burst = float(burst)
        self._tokens = float(burst)
        self._stamp = clock.seconds()
        self.paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """No call for ``seconds`` (upstream's Retry-After)."""
        self.paused_until = max(self.paused_until, self._clock.seconds() + seconds)

    def paused_for(self) -> float:
        return max(self.paused_until - self._clock.seconds(), 0.0)

    def wait(self) -> float:
        """Seconds until a token is free (0: one is free now)."""
        if self._rate is None:
            return 0.0
        now = self._clock.seconds()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self._rate

    def take(self) -> None:
        """Spend a token; call only when ``wait()`` has just said 0."""
        if self._rate is not None:
            self._tokens -= 1
