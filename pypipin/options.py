"""The twistd options of pypipin; each has a PYPIPIN_<NAME> environment twin."""

import os
import shutil
import sys
from typing import Any, Callable

from twisted.python import usage


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def coerce(value: str) -> Any:
        number = kind(value)
        if number <= 0:
            raise ValueError(f"{value} is not a positive number")
        return number

    coerce.coerceDoc = "A positive number."  # type: ignore[attr-defined]
    return coerce


def _redis(value: str) -> str:
    if value != "none" and not value.startswith(("redis://", "rediss://")):
        raise ValueError(f"{value!r} is neither a redis:// URL nor 'none'")
    return value


def _port_number(value: str) -> int:
    number = int(value)
    if not 0 <= number <= 65535:
        raise ValueError(f"{value} is not a TCP port")
    return number


def _choice(*allowed: str) -> Callable[[str], str]:
    def coerce(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")
        return value

    coerce.coerceDoc = f"One of {', '.join(allowed)}."  # type: ignore[attr-defined]
    return coerce


_PARAMETERS = [
    ["port", "p", "tcp:8888", "Where to listen, as a strports description."],
    ["redis", None, "redis://127.0.0.1:6379/0", "Redis URL redis://[:password@]host:port/db, or 'none' for the in-process cache only.", _redis],
    ["pypi-url", None, "https://pypi.org/pypi", "PyPI JSON API base: documents at <url>/<name>/json."],
    ["stats-url", None, "https://pypistats.org/api", "pypistats API base: counts at <url>/packages/<name>/recent."],
    ["pypi-ttl", None, 600, "Seconds a PyPI summary stays fresh.", _positive(int)],
    ["stats-ttl", None, 3600, "Seconds download counts stay fresh.", _positive(int)],
    ["stale-ttl", None, 7 * 86400, "Seconds a summary is kept to serve when upstream fails.", _positive(int)],
    ["stats-rate", None, 20.0, "Most pypistats calls a minute from this daemon (pypistats allows about 30).", _positive(float)],
    ["upstream-timeout", None, 5.0, "Seconds allowed for one upstream request, body included.", _positive(float)],
    ["upstream-concurrency", None, 32, "Most upstream requests under way at once.", _positive(int)],
    ["upstream-max-mb", None, 20, "Largest upstream body accepted, in MiB.", _positive(int)],
    ["renderer-port", None, 0, "Loopback port of the Node renderer; 0 picks a free one.", _port_number],
    ["node", None, shutil.which("node") or "node", "Path of the node executable."],
    ["access-log", None, "-", "Access log: '-' for the twistd log, a file path, or 'none'."],
    ["log-format", None, "combined", "Access log lines: 'combined' or 'json'.", _choice("combined", "json")],
    ["cache-entries", None, 10000, "Most entries of each in-process cache.", _positive(int)],
    ["cache-mb", None, 64, "Most MiB of each in-process cache.", _positive(int)],
]


def environment_name(option: str) -> str:
    return "PYPIPIN_" + option.upper().replace("-", "_")


class Options(usage.Options):
    optParameters = [
        [name, short, default, f"{doc} [env {environment_name(name)}]", *rest]
        for name, short, default, doc, *rest in _PARAMETERS
    ]

    def parseOptions(self, options: list[str] | None = None) -> None:
        """Parse the environment twins first, so the command line wins over them."""
        from_env = [
            f"--{name}={os.environ[environment_name(name)]}"
            for name, *_ in _PARAMETERS
            if environment_name(name) in os.environ
        ]
        super().parseOptions(from_env + list(sys.argv[1:] if options is None else options))
