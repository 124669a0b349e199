"""Upstream failure lines, bounded: one a minute per source and cause, however many packages fail."""

from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

log = Logger()

WINDOW_SECONDS = 60  # one line per source and cause at most this often
MAX_CAUSES = 64  # causes folded at once per daemon; any more share one line, "other causes"
MAX_CAUSE_CHARS = 200


@dataclass
class _Window:
    """The failures of one source and cause since its last line."""

    count: int = 0
    example: str = ""


def cause_of(error: Exception) -> str:
    """What failed, without the URL that names the package: ``HTTP 500``, not ``<url>: HTTP 500``."""
    text = str(error) or type(error).__name__
    url, colon, rest = text.partition(": ")
    return (rest if colon and url.startswith(("http://", "https://")) else text)[:MAX_CAUSE_CHARS]


class FailureLog:
    """The first failure of a source and cause is logged at once, with its package and URL; the
    ones after it within ``WINDOW_SECONDS`` are counted, and logged as one line when it ends."""

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self._windows: dict[tuple[str, str], _Window] = {}

    def failed(self, source: str, name: str, error: Exception) -> None:
        """Log, or count, that ``source`` failed for package ``name`` with ``error``."""
        cause = cause_of(error)
        if (source, cause) not in self._windows and len(self._windows) >= MAX_CAUSES:
            cause = "other causes"
        window = self._windows.get((source, cause))
        if window is not None:
            window.count += 1
            window.example = window.example or name
            return
        log.warn(
            "Upstream {source} failed for {name}: {error}",
            source=source,
            name=name,
            error=str(error) or type(error).__name__,
        )
        self._open(source, cause)

    def _open(self, source: str, cause: str) -> None:
        self._windows[source, cause] = _Window()
        self._clock.callLater(WINDOW_SECONDS, self._close, source, cause)

    def _close(self, source: str, cause: str) -> None:
        window = self._windows.pop((source, cause))
        if window.count:
            log.warn(
                "Upstream {source} failed {count} more times in the last minute (cause: {cause}), "
                "e.g. for {name}",
                source=source,
                count=window.count,
                cause=cause,
                name=window.example,
            )
            self._open(source, cause)
