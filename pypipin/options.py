"""The twistd options of pypipin; each has a PYPIPIN_<NAME> environment twin."""
# mypy: untyped-calls-exclude=twisted
# (much of Twisted is not annotated: calls into it go unchecked, the rest of these modules is strict)

import os
import shutil
import sys
from collections.abc import Callable
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Any, ClassVar

from twisted.internet.endpoints import serverFromString
from twisted.internet.testing import MemoryReactor
from twisted.python import usage

from pypipin import __version__
from pypipin.store import connection
from pypipin.upstream import indexes


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def coerce(value: str) -> Any:
        try:
            number = kind(value)
        except ValueError:
            number = 0
        if number <= 0:
            raise ValueError(f"{value!r} is not a positive {'whole ' if kind is int else ''}number")
        return number

    coerce.coerceDoc = "A positive number."  # type: ignore[attr-defined]
    return coerce


def _redis(value: str) -> str:
    if value != "none" and not value.startswith(("redis://", "rediss://", "redis+sentinel://")):
        raise ValueError(f"{value!r} is neither a redis:// URL nor 'none'")
    if value.startswith("redis+sentinel://"):
        connection.address(value)  # ValueError: not host:port[,host:port...]/MASTER[/db]
    return value


def _port_number(value: str) -> int:
    if not value.isdigit() or not 0 <= int(value) <= 65535:
        raise ValueError(f"{value!r} is not a TCP port number (0 to 65535)")
    return int(value)


def _endpoint(value: str) -> str:
    """A strports description (a bare port number N is ``tcp:N``), checked now: a bad one fails here, not at
    start."""
    if value.isdigit():
        return f"tcp:{_port_number(value)}"
    try:
        # parsed against a reactor that does nothing, so only the description is checked; each endpoint
        # parser says "bad description" with what its code raises (OSError: a certificate file is missing)
        serverFromString(MemoryReactor(), value)
    except (ValueError, TypeError, KeyError, IndexError, OSError) as error:
        raise ValueError(f"{value!r} is not a port number or strports description ({error})") from None
    return value


def _optional_endpoint(value: str) -> str:
    """``_endpoint``, or empty for none."""
    return value and _endpoint(value)


def _networks(value: str) -> tuple[IPv4Network | IPv6Network, ...]:
    try:
        return tuple(ip_network(part.strip()) for part in value.split(",") if part.strip())
    except ValueError as error:
        raise ValueError(f"{value!r} is not a comma-separated list of networks: {error}") from error


_networks.coerceDoc = "Networks, comma-separated: 127.0.0.1/32,10.0.0.0/8."  # type: ignore[attr-defined]


def _readable_file(value: str) -> str:
    if value and not os.access(value, os.R_OK):
        raise ValueError(f"{value!r} is not a readable file")
    return value


def _secret_file(value: str) -> str:
    """A readable file that no one but its owner may read or write (it holds a password), or one of
    systemd's credentials (``LoadCredential=``: its directory is the service's alone, whatever the mode)."""
    _readable_file(value)
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    if not value or (
        credentials and os.path.dirname(os.path.realpath(value)) == os.path.realpath(credentials)
    ):
        return value
    mode = os.stat(value).st_mode & 0o777
    if mode & 0o077:
        raise ValueError(
            f"{value!r} holds secrets but its mode is {mode:04o}, open to group or others: "
            f"run chmod 600 {value} (owned by the user the daemon runs as)"
        )
    return value


_secret_file.coerceDoc = "A file only its owner may read (mode 0600 or 0400)."  # type: ignore[attr-defined]


def _workers(value: str) -> int:
    """A number of worker processes; ``auto`` is 0 until ``postOptions`` knows the port."""
    if value == "auto":
        return 0
    count: int = _positive(int)(value)
    return count


_workers.coerceDoc = "A positive whole number, or auto."  # type: ignore[attr-defined]


def _count(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(f"{value} is negative")
    return number


def _seconds(value: str) -> float:
    number = float(value)
    if not 0 <= number < float("inf"):
        raise ValueError(f"{value} is not a number of seconds, 0 or more")
    return number


def _sources(value: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    if not names or not set(names) <= {"clickhouse", "pypistats"} or len(set(names)) < len(names):
        raise ValueError(f"{value!r} is not a list of clickhouse, pypistats")
    return names


def _choice(*allowed: str) -> Callable[[str], str]:
    def coerce(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")
        return value

    coerce.coerceDoc = f"One of {', '.join(allowed)}."  # type: ignore[attr-defined]
    return coerce


CLICKHOUSE_URL = "https://sql-clickhouse.clickhouse.com/?user=demo"
DEFAULT_NODE = shutil.which("node") or "node"

_PARAMETERS: list[list[Any]] = [
    ["port", "p", "tcp:8888", "Where to listen: a port number or a strports description.", _endpoint],
    [
        "redis",
        None,
        "redis://127.0.0.1:6379/0",
        "Redis URL redis[s]://[[user]:password@]host:port/db (rediss: TLS), "
        "redis+sentinel://[[user]:password@]host:port[,host:port...]/MASTER[/db] (the master the Sentinels "
        "name; the password is the master's), or 'none' for the in-process cache only.",
        _redis,
    ],
    [
        "redis-password-file",
        None,
        "",
        "File holding the Redis password (instead of one in the URL); mode 0600.",
        _secret_file,
    ],
    [
        "redis-ca",
        None,
        "",
        "CA certificates (PEM) that sign a rediss:// server's certificate; default: the system's.",
        _readable_file,
    ],
    ["pypi-url", None, "https://pypi.org/pypi", "PyPI JSON API base: documents at <url>/<name>/json."],
    [
        "stats-url",
        None,
        "https://pypistats.org/api",
        "pypistats API base: counts at <url>/packages/<name>/recent.",
    ],
    [
        "downloads-source",
        None,
        "clickhouse,pypistats",
        "Where download counts come from, in order: clickhouse, pypistats (the next when one cannot answer).",
        _sources,
    ],
    [
        "clickhouse-url",
        None,
        CLICKHOUSE_URL,
        "ClickHouse HTTP interface with ClickPy's pypi database (its user and settings in the query string).",
    ],
    [
        "clickhouse-rate",
        None,
        30.0,
        "Most ClickHouse queries an hour (the public demo user allows about 60).",
        _positive(float),
    ],
    ["pypi-ttl", None, 600, "Seconds a PyPI summary stays fresh.", _positive(int)],
    ["stats-ttl", None, 3600, "Seconds download counts stay fresh.", _positive(int)],
    ["stale-ttl", None, 7 * 86400, "Seconds a summary is kept to serve when upstream fails.", _positive(int)],
    [
        "feed-url",
        None,
        "",
        "PyPI's update feed; default: --pypi-url with /pypi replaced by /rss/updates.xml; 'none': no feed.",
    ],
    [
        "feed-interval",
        None,
        60.0,
        "Seconds between two reads of the update feed (by one daemon of the fleet).",
        _positive(float),
    ],
    [
        "pypi-ttl-with-feed",
        None,
        86400,
        "Seconds a PyPI summary stays fresh while the update feed is read on time (else --pypi-ttl).",
        _positive(int),
    ],
    [
        "stats-rate",
        None,
        20.0,
        "Most pypistats calls a minute from the whole fleet sharing a Redis (pypistats allows about 30).",
        _positive(float),
    ],
    [
        "upstream-timeout",
        None,
        5.0,
        "Seconds allowed for one upstream request, body included.",
        _positive(float),
    ],
    ["upstream-concurrency", None, 32, "Most upstream requests under way at once.", _positive(int)],
    [
        "upstream-max-mb",
        None,
        20,
        "Largest upstream body accepted, in MiB, counted after gzip decoding.",
        _positive(int),
    ],
    ["renderer-port", None, 0, "Loopback port of the Node renderer; 0 picks a free one.", _port_number],
    ["node", None, DEFAULT_NODE, "Path of the node executable."],
    [
        "renderer-dir",
        None,
        "",
        "Directory holding the renderer's npm packages, made by `pypipin renderer install --dir`; "
        "the daemon never installs into it. Empty: a per-user cache directory, installed on the first start.",
    ],
    [
        "access-log",
        None,
        "-",
        "Access log: '-' for standard output, a file path (reopened on SIGUSR1), or 'none'.",
    ],
    ["log-format", None, "combined", "Access log lines: 'combined' or 'json'.", _choice("combined", "json")],
    ["cache-entries", None, 10000, "Most entries of each in-process cache.", _positive(int)],
    ["cache-mb", None, 64, "Most MiB of each in-process cache.", _positive(int)],
    ["metrics-allow", None, "127.0.0.1/32,::1/128", "Networks that may read /metrics.", _networks],
    [
        "metrics-port",
        None,
        "",
        "Serve /metrics on this port number or strports description instead of --port.",
        _optional_endpoint,
    ],
    [
        "index-file",
        None,
        "",
        "File of more indexes, one 'NAME URL [FEED_URL]' a line, mode 0600 (credentials kept out of ps).",
        _secret_file,
    ],
    [
        "pypi-rate",
        None,
        20.0,
        "Most PyPI calls a second to each index from the whole fleet sharing a Redis (bursts of twice that).",
        _positive(float),
    ],
    [
        "client-names",
        None,
        60.0,
        "Names one client may have looked up upstream a minute, across the fleet sharing a Redis "
        "(cached ones are free; one PyPI does not know counts twice).",
        _positive(float),
    ],
    [
        "client-renders",
        None,
        60.0,
        "New images one client may have drawn a minute, across the fleet sharing a Redis "
        "(cached ones are free).",
        _positive(float),
    ],
    [
        "global-renders",
        None,
        50.0,
        "New images drawn a second for all clients together (a scale-4 image counts 16).",
        _positive(float),
    ],
    [
        "refusal-delay",
        None,
        1.0,
        "Seconds a client that is not a trusted proxy waits for its 'rate limited' badge "
        "(its connection's next request with it); 0: at once.",
        _seconds,
    ],
    [
        "trusted-proxy",
        None,
        "127.0.0.1/32,::1/128",
        "Networks of proxies whose X-Forwarded-For names the client (comma-separated).",
        _networks,
    ],
    [
        "client-connections",
        None,
        64,
        "Most open connections from one address (trusted proxies excepted).",
        _positive(int),
    ],
    ["max-connections", None, 0, "Most open connections in all; 0: the open-files limit less 224.", _count],
    ["head-timeout", None, 10.0, "Seconds a client has to send a whole request head.", _positive(float)],
    ["idle-timeout", None, 15.0, "Seconds an idle connection is kept open.", _positive(float)],
    [
        "response-timeout",
        None,
        30.0,
        "Seconds a response may take, from its request's end until it is all in the kernel's send buffer.",
        _positive(float),
    ],
    [
        "workers",
        None,
        "auto",
        "Worker processes sharing the listening socket (each serves on a core of its own); "
        "auto: the CPUs this process may use (1 with a port other than tcp: or tcp6:); "
        "1: one process, as a plain twistd.",
        _workers,
    ],
    [
        "render-concurrency",
        None,
        8,
        "Most renders under way in node at once; more wait up to 1 s for a slot.",
        _positive(int),
    ],
]


def environment_name(option: str) -> str:
    return "PYPIPIN_" + option.upper().replace("-", "_")


def _named(name: str, coerce: Callable[[str], Any]) -> Callable[[str], Any]:
    """``coerce`` whose errors name the option and its environment twin."""

    def named(value: str) -> Any:
        try:
            return coerce(value)
        except ValueError as error:
            raise ValueError(f"--{name} (env {environment_name(name)}): {error}") from None

    named.coerceDoc = getattr(coerce, "coerceDoc", "")  # type: ignore[attr-defined]
    return named


class Options(usage.Options):
    """pypipin's options; ``self["indexes"]`` is every index by name, --pypi-url's first (``pypi``)."""

    synopsis = f"[options]    (pypipin {__version__})"

    def opt_version(self) -> None:
        """Print pypipin's version and exit."""
        print(f"pypipin {__version__}")
        sys.exit(0)

    optParameters: ClassVar[list[list[Any]]] = [
        [
            name,
            short,
            default,
            f"{doc} [env {environment_name(name)}]",
            *(_named(name, coerce) for coerce in rest),
        ]
        for name, short, default, doc, *rest in _PARAMETERS
    ]

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # the exclusion above misses super()
        self["index"] = []
        self.arguments: list[str] = []

    def opt_index(self, value: str) -> None:
        """Another index serving the PyPI JSON API, as NAME=URL (NAME=URL|FEED_URL when it has an update
        feed); repeatable. Credentials in the
        URL (https://user:token@host/pypi) go to that host alone, as HTTP Basic. [env PYPIPIN_INDEX:
        NAME=URL pairs separated by spaces]"""
        try:
            self["index"].append(indexes.pair(value))
        except ValueError as error:
            raise usage.UsageError(f"--index (env PYPIPIN_INDEX): {error}") from None

    def parseOptions(self, options: list[str] | None = None) -> None:
        """Parse the environment twins first, so the command line wins over them."""
        from_env = [
            f"--{name}={os.environ[environment_name(name)]}"
            for name, *_ in _PARAMETERS
            if environment_name(name) in os.environ
        ]
        from_env += [f"--index={pair}" for pair in os.environ.get("PYPIPIN_INDEX", "").split()]
        given = from_env + list(sys.argv[1:] if options is None else options)
        self.arguments = list(sys.argv[1:] if options is None else options)  # what a worker is given again
        super().parseOptions(given)  # type: ignore[no-untyped-call]  # the exclusion above misses super()

    def postOptions(self) -> None:
        """Defaults go through the same coercion as given values (twistd leaves them as written)."""
        for name, _, default, _, *coerce in _PARAMETERS:
            if coerce and isinstance(default, str) and self[name] == default:
                self[name] = coerce[0](default)
        shareable = self["port"].startswith(("tcp:", "tcp6:"))
        if not self["workers"]:  # auto: every CPU this process may use, when workers can share the port
            self["workers"] = len(os.sched_getaffinity(0)) if shareable else 1
        if self["workers"] > 1 and not shareable:
            raise usage.UsageError(
                "--workers (env PYPIPIN_WORKERS): more than 1 needs a tcp: or tcp6: --port"
            )
        try:
            from_file = indexes.read_file(self["index-file"]) if self["index-file"] else []
            self["indexes"] = indexes.configured(self["pypi-url"], self["index"] + from_file)
        except (OSError, ValueError) as error:
            raise usage.UsageError(f"--index/--index-file/--pypi-url: {error}") from None
