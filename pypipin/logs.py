"""Access logs: one line per request, combined log format or JSON lines."""

import json
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.web.http import combinedLogFormatter
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource
from twisted.web.server import Site

from pypipin.metrics import Counters
from pypipin.state import state


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8", "replace")


def json_line(timestamp: str, request: IRequest) -> str:
    """The request as one JSON object (the same fields as the combined format)."""
    client = request.getClientAddress()
    return json.dumps(
        {
            "remote": getattr(client, "host", None),
            "time": timestamp.strip("[]"),
            "method": _text(request.method),
            "uri": _text(request.uri),
            "protocol": _text(request.clientproto),
            "status": request.code,
            "bytes": request.sentLength,
            "referer": _text(request.getHeader(b"referer")),
            "agent": _text(request.getHeader(b"user-agent")),
        }
    )


class _MeteredSite(Site):
    """Counts every finished request in the metrics, then writes its access log line (if any)."""

    def __init__(self, resource: Resource, counters: Counters, clock: IReactorTime, access_log: bool, **kwargs: Any):
        super().__init__(resource, **kwargs)
        self._counters = counters
        self._clock = clock
        self._access_log = access_log

    def log(self, request: Any) -> None:
        about = state(request)
        if about.started is not None:
            self._counters.request(about.badge, about.format, request.code, self._clock.seconds() - about.started)
        if self._access_log:
            super().log(request)


def site(resource: Resource, access_log: str, log_format: str, counters: Counters, clock: IReactorTime) -> Site:
    """A Site logging each request to the twistd log (``-``), a file (a path), or nowhere (``none``)."""
    formatter = json_line if log_format == "json" else combinedLogFormatter
    return _MeteredSite(
        resource, counters, clock, access_log != "none",
        logPath=None if access_log in ("-", "none") else access_log, logFormatter=formatter,
    )
