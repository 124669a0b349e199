"""The daemon's settings: one frozen, typed value built once from the options, units converted.

Past ``Settings.from_options`` nothing reads an option by its name: the wiring and the
commands take a ``Settings`` (or one of its groups).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, cast

from pypipin.options import Options
from pypipin.renderer.provision import default_dir
from pypipin.upstream import feed
from pypipin.upstream.indexes import DEFAULT, Index
from pypipin.web.clients import Network
from pypipin.web.listener import max_connections

MIB = 1024 * 1024


def feed_url(given: str, index_url: str) -> str | None:
    """The update feed followed: ``--feed-url``, else the one beside ``--pypi-url``'s JSON API; None for
    ``none``."""
    if given.strip().lower() == "none":
        return None
    return given.strip() or feed.url_for(index_url)


@dataclass(frozen=True)
class UpstreamSettings:
    """The indexes and pypistats: where, how often, how long, how much."""

    indexes: Mapping[str, Index]  # every index by name, --pypi-url's (``pypi``) first
    stats_url: str
    pypi_ttl: int  # seconds a summary stays fresh
    stats_ttl: int  # seconds download counts stay fresh
    stale_ttl: int  # seconds a summary is kept to serve when upstream fails
    feed_url: str | None  # the default index's update feed (None: not followed)
    feed_interval: float  # seconds between two reads of it
    pypi_ttl_with_feed: int  # seconds a summary stays fresh while the feed is read on time
    pypi_per_minute: float  # each index's gate: calls a minute from this daemon
    pypi_burst: int  # ... and its bucket's size
    stats_per_minute: float  # pypistats' gate
    timeout: float  # seconds for one request, body included
    concurrency: int  # requests under way at once
    max_bytes: int  # largest body accepted, after gzip decoding
    downloads_sources: tuple[str, ...] = ("pypistats",)  # in order: clickhouse, pypistats
    clickhouse_url: str = ""
    clickhouse_per_hour: float = 30.0  # ClickHouse's query budget


@dataclass(frozen=True)
class BudgetSettings:
    """What one client, and all together, may cost."""

    names_per_minute: float  # names one client may look up upstream
    renders_per_minute: float  # new images one client may have drawn
    renders_per_second: float  # new images drawn for all clients together
    refusal_delay: float  # seconds a direct client waits for its refusal


@dataclass(frozen=True)
class RendererSettings:
    """The Node renderer and where its npm packages are."""

    node: str
    port: int  # loopback port; 0: pick a free one at start
    directory: Path
    provision: bool  # install the packages into ``directory`` on the first start (no --renderer-dir given)
    concurrency: int  # renders under way in node at once


@dataclass(frozen=True)
class ListenerSettings:
    """Where the badges are served and what a connection may do."""

    port: str  # strports description
    trusted_proxies: tuple[Network, ...]
    client_connections: int
    max_connections: int  # resolved: never 0
    head_timeout: float
    idle_timeout: float
    response_timeout: float


@dataclass(frozen=True)
class MetricsSettings:
    """Who may read /metrics, and where."""

    allow: tuple[Network, ...]
    port: str | None  # strports description of a port of its own; None: on the listener's port


@dataclass(frozen=True)
class CacheSettings:
    """The shared Redis and the in-process caches."""

    redis_url: str | None  # None: the in-process cache only
    redis_password_file: str
    redis_ca: str
    entries: int  # most entries of each in-process cache
    bytes: int  # most bytes of each in-process cache


@dataclass(frozen=True)
class AccessLogSettings:
    """The access log."""

    where: str  # "-" for standard output, a file path, or "none"
    format: Literal["combined", "json"]


@dataclass(frozen=True)
class WorkerSettings:
    """How many processes serve, and what each is told."""

    count: int  # 1: this process serves, as a plain twistd
    arguments: tuple[str, ...]  # the command line's options, given again to each worker


@dataclass(frozen=True)
class Settings:
    """Everything the daemon and ``pypipin check`` are told, typed and in the units their parts take."""

    upstream: UpstreamSettings
    budgets: BudgetSettings
    renderer: RendererSettings
    listener: ListenerSettings
    metrics: MetricsSettings
    cache: CacheSettings
    access_log: AccessLogSettings
    workers: WorkerSettings = WorkerSettings(1, ())

    @classmethod
    def from_options(cls, options: Options) -> "Settings":
        """The settings of parsed ``options`` (their values already checked and coerced)."""
        given = cast(Mapping[str, Any], options)  # usage.Options is an untyped dict

        def number(name: str) -> float:
            return float(given[name])

        def whole(name: str) -> int:
            return int(given[name])

        def text(name: str) -> str:
            return str(given[name])

        def networks(name: str) -> tuple[Network, ...]:
            return tuple(given[name])

        renderer_dir = text("renderer-dir")
        return cls(
            upstream=UpstreamSettings(
                indexes=MappingProxyType(dict(given["indexes"])),
                stats_url=text("stats-url"),
                pypi_ttl=whole("pypi-ttl"),
                stats_ttl=whole("stats-ttl"),
                stale_ttl=whole("stale-ttl"),
                feed_url=feed_url(text("feed-url"), given["indexes"][DEFAULT].url),
                feed_interval=number("feed-interval"),
                pypi_ttl_with_feed=whole("pypi-ttl-with-feed"),
                pypi_per_minute=number("pypi-rate") * 60,
                pypi_burst=max(1, int(number("pypi-rate") * 2)),
                stats_per_minute=number("stats-rate"),
                timeout=number("upstream-timeout"),
                concurrency=whole("upstream-concurrency"),
                max_bytes=whole("upstream-max-mb") * MIB,
                downloads_sources=tuple(given["downloads-source"]),
                clickhouse_url=text("clickhouse-url"),
                clickhouse_per_hour=number("clickhouse-rate"),
            ),
            budgets=BudgetSettings(
                names_per_minute=number("client-names"),
                renders_per_minute=number("client-renders"),
                renders_per_second=number("global-renders"),
                refusal_delay=number("refusal-delay"),
            ),
            renderer=RendererSettings(
                node=text("node"),
                port=whole("renderer-port"),
                directory=Path(renderer_dir) if renderer_dir else default_dir(),
                provision=not renderer_dir,
                concurrency=whole("render-concurrency"),
            ),
            listener=ListenerSettings(
                port=text("port"),
                trusted_proxies=networks("trusted-proxy"),
                client_connections=whole("client-connections"),
                max_connections=max_connections(whole("max-connections")),
                head_timeout=number("head-timeout"),
                idle_timeout=number("idle-timeout"),
                response_timeout=number("response-timeout"),
            ),
            metrics=MetricsSettings(allow=networks("metrics-allow"), port=text("metrics-port") or None),
            cache=CacheSettings(
                redis_url=None if text("redis") == "none" else text("redis"),
                redis_password_file=text("redis-password-file"),
                redis_ca=text("redis-ca"),
                entries=whole("cache-entries"),
                bytes=whole("cache-mb") * MIB,
            ),
            access_log=AccessLogSettings(
                where=text("access-log"),
                format="json" if text("log-format") == "json" else "combined",
            ),
            workers=WorkerSettings(whole("workers"), tuple(getattr(options, "arguments", ()))),
        )
