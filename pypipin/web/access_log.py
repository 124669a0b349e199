"""Access logs: one line per request, combined log format or JSON lines, written in batches."""

import sys
from collections.abc import Callable
from typing import Any, BinaryIO, TextIO, cast

import msgspec
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.web.http import Request, datetimeToLogString
from twisted.web.resource import Resource
from twisted.web.server import Site

from pypipin.metrics import Counters
from pypipin.web.state import RequestState, state

log = Logger()

FLUSH_SECONDS = 0.5  # the longest a line waits in memory
FLUSH_LINES = 1000  # or until this many are waiting

_encode = msgspec.json.Encoder().encode


# in a combined-format field: control characters and bytes past ASCII as \xNN, quote and backslash escaped
_ESCAPES = {code: f"\\x{code:02x}" for code in [*range(32), *range(127, 256)]} | {
    ord('"'): '\\"',
    ord("\\"): "\\\\",
}


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8", "replace")


_escaped: dict[bytes, str] = {}  # short fields seen lately (methods, URLs, agents), escaped once
MEMO_ENTRIES, MEMO_LONGEST = 4096, 256  # at most about 2 MiB


def _field(value: bytes | None) -> str:
    if not value:
        return "-"
    found = _escaped.get(value)
    if found is None:
        text = value.decode("latin-1")
        if not (text.isascii() and text.isprintable() and '"' not in text and "\\" not in text):
            text = text.translate(_ESCAPES)
        if len(value) <= MEMO_LONGEST:
            if len(_escaped) >= MEMO_ENTRIES:
                _escaped.clear()
            _escaped[value] = text
        found = text
    return found


def combined_line(timestamp: str, request: Request, about: RequestState) -> bytes:
    """The request in the combined log format (Twisted's ``combinedLogFormatter``, in a third of its time)."""
    return (
        f'"{getattr(request.getClientAddress(), "host", "-")}" - - {timestamp} "{_field(request.method)} '
        f'{_field(request.uri)} {_field(request.clientproto)}" {request.code} {request.sentLength or "-"} '
        f'"{_field(request.getHeader(b"referer"))}" "{_field(request.getHeader(b"user-agent"))}"'
    ).encode()


class _JSONLine(msgspec.Struct):
    remote: str | None
    time: str
    method: str | None
    uri: str | None
    protocol: str | None
    status: int
    bytes: int
    referer: str | None
    agent: str | None
    host: str | None
    forwarded_for: str | None
    duration_ms: float | None
    badge: str
    format: str
    cache: str


def json_line(timestamp: str, request: Request, about: RequestState) -> bytes:
    """The request as one JSON object: the combined format's fields, and what the service learnt."""
    return _encode(
        _JSONLine(
            getattr(request.getClientAddress(), "host", None),
            timestamp.strip("[]"),
            _text(request.method),
            _text(request.uri),
            _text(request.clientproto),
            request.code,
            request.sentLength,
            _text(request.getHeader(b"referer")),
            _text(request.getHeader(b"user-agent")),
            _text(request.getHeader(b"host")),
            _text(request.getHeader(b"x-forwarded-for")),
            None if about.duration is None else round(about.duration * 1000, 3),
            about.badge,
            about.format,
            about.cache,
        )
    )


class Batches:
    """Lines kept in memory and written in batches, on the reactor thread.

    ``path`` None writes to standard output. ``reopen()`` (on SIGUSR1 or SIGHUP) closes
    and opens the file again, so a log rotated away by ``mv`` is left behind; ``close()``
    writes what is waiting.
    """

    def __init__(self, clock: IReactorTime, path: str | None) -> None:
        self._clock = clock
        self._path = path
        self._lines: list[bytes] = []
        self._call: Any = None
        self._file: BinaryIO = self._open()

    def _open(self) -> BinaryIO:
        if self._path is None:
            return cast(TextIO, sys.__stdout__).buffer  # the process's own stdout, not twistd's sys.stdout
        return open(self._path, "ab")

    def add(self, line: bytes) -> None:
        self._lines.append(line)
        if len(self._lines) >= FLUSH_LINES:
            self.flush()
        elif self._call is None:
            self._call = self._clock.callLater(FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        if self._call is not None:
            if self._call.active():
                self._call.cancel()
            self._call = None
        if self._lines:
            self._lines.append(b"")
            batch, self._lines = b"\n".join(self._lines), []
            try:
                self._file.write(batch)
                self._file.flush()
            except OSError as error:  # a full disk must not stop the badges
                log.error(
                    "Access log not written ({error}): {count} bytes lost", error=error, count=len(batch)
                )

    def reopen(self) -> None:
        self.flush()
        if self._path is not None:
            self._file.close()
            self._file = self._open()
            log.info("Access log reopened: {path}", path=self._path)

    def close(self) -> None:
        self.flush()
        if self._path is not None:
            self._file.close()


class _MeteredSite(Site):
    """Counts every finished request in the metrics, then adds its access log line (if any) to the batch."""

    def __init__(
        self,
        resource: Resource,
        counters: Counters,
        clock: IReactorTime,
        batches: Batches | None,
        format: Callable[[str, Request, RequestState], bytes],
    ) -> None:
        super().__init__(resource)  # type: ignore[no-untyped-call]  # Site.__init__ has no hints
        self._format = format
        self._counters = counters
        self._clock = clock
        self._batches = batches
        self._second = -1
        self._timestamp = ""

    def log(self, request: Any) -> None:
        about = state(request)
        now = self._clock.seconds()
        if about.started is not None:
            about.duration = now - about.started
            self._counters.request(about.badge, about.format, request.code, about.duration)
        if self._batches is not None:
            self._batches.add(self._format(self._stamp(now), request, about))

    def _stamp(self, now: float) -> str:
        """``now`` as the log's ``[02/Dec/2026:07:30:00 +0000]``, formatted once a second."""
        second = int(now)
        if second != self._second:
            self._second, self._timestamp = second, datetimeToLogString(second)
        return self._timestamp


def site(
    resource: Resource, access_log: str, log_format: str, counters: Counters, clock: IReactorTime
) -> tuple[Site, Batches | None]:
    """A Site logging each request to standard output (``-``), a file (a path), or nowhere (``none``)."""
    batches = None if access_log == "none" else Batches(clock, None if access_log == "-" else access_log)
    return _MeteredSite(
        resource, counters, clock, batches, json_line if log_format == "json" else combined_line
    ), batches
