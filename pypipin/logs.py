"""Access logs: one line per request, combined log format or JSON lines."""

import json
from typing import Any

from twisted.web.http import combinedLogFormatter
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource
from twisted.web.server import Site


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


class _Unlogged(Site):
    def log(self, request: Any) -> None:
        """No access log."""


def site(resource: Resource, access_log: str, log_format: str) -> Site:
    """A Site logging each request to the twistd log (``-``), a file (a path), or nowhere (``none``)."""
    formatter = json_line if log_format == "json" else combinedLogFormatter
    if access_log == "none":
        return _Unlogged(resource)
    return Site(resource, logPath=None if access_log == "-" else access_log, logFormatter=formatter)
