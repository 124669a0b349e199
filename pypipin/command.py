"""The ``pypipin`` command: its version, provisioning the renderer ahead of time, checking a setup."""
# mypy: untyped-calls-exclude=twisted
# (much of Twisted is not annotated: calls into it go unchecked, the rest of these modules is strict)

import argparse
import sys
from collections.abc import Awaitable, Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

from twisted.internet import defer, task
from twisted.logger import (
    FilteringLogObserver,
    ILogFilterPredicate,
    ILogObserver,
    PredicateResult,
    globalLogBeginner,
    textFileLogObserver,
)
from twisted.python import usage
from twisted.web.http_headers import Headers

from pypipin import wiring
from pypipin.options import DEFAULT_NODE, Options
from pypipin.renderer.provision import NotReady, check_dir, check_node, default_dir, install, node_versions
from pypipin.settings import Settings
from pypipin.store.lru import LRU
from pypipin.store.memory import MemoryStore
from pypipin.upstream.clickhouse import ClickHouse
from pypipin.upstream.client import Unavailable
from pypipin.waiting import poll_until

REDIS_WAIT = 3.0  # seconds `pypipin check` waits for a Redis connection


async def renderer_install(reactor: Any, directory: Path | None, node: str) -> None:
    """Installs the renderer's npm packages into ``directory`` (nothing when they are there)."""
    path, _ = await check_node(reactor, node)
    await install(reactor, directory or default_dir(), path)
    use = (
        f"twistd -n pypipin --renderer-dir {directory}"
        if directory
        else "twistd -n pypipin finds it by itself"
    )
    print(f"renderer ready in {directory or default_dir()} ({use})")


async def _node(reactor: Any, settings: Settings) -> str:
    path, version = await check_node(reactor, settings.renderer.node)
    return f"Node.js {version} at {path} (needs {node_versions()})"


async def _renderer(reactor: Any, settings: Settings) -> str:
    check_dir(settings.renderer.directory)
    return f"npm packages present in {settings.renderer.directory}"


async def _redis(reactor: Any, settings: Settings) -> str:
    try:
        where = wiring.redis_address(settings)
    except OSError as failure:
        raise NotReady(f"cannot read --redis-password-file: {failure}") from None
    if where is None:
        return "none (in-process cache only)"
    store = wiring.redis_store(settings, reactor, where, MemoryStore(LRU(reactor, 1, 1)), timeout=REDIS_WAIT)
    try:
        if not await poll_until(reactor, lambda: store.state == "redis", REDIS_WAIT):
            raise NotReady(f"{where!r}: {store.reason or f'no connection within {REDIS_WAIT:.0f} s'}")
    finally:
        await store.disconnect()
    return f"connected to {where!r}"


async def _reachable(
    reactor: Any, url: str, timeout: float, headers: Mapping[bytes, bytes] | None = None
) -> str:
    http, pool = wiring.probe_client(reactor, timeout)
    try:
        response = await http.head(
            url, timeout=timeout, headers=Headers({name: [value] for name, value in (headers or {}).items()})
        )
    except Exception as failure:
        raise NotReady(f"{url}: {failure.__class__.__name__}: {failure}") from None
    finally:
        await pool.closeCachedConnections()
    if response.code >= 500 or response.code in (401, 403):
        raise NotReady(f"{url} answers HTTP {response.code}")
    return f"{url} answers (HTTP {response.code})"


async def _pypi(reactor: Any, settings: Settings) -> str:
    """Every index, by its URL without credentials (they go as a header)."""
    timeout = settings.upstream.timeout
    return "; ".join(
        [
            await _reachable(reactor, f"{index.url}/pip/json", timeout, index.headers)
            for index in settings.upstream.indexes.values()
        ]
    )


async def _stats(reactor: Any, settings: Settings) -> str:
    upstream = settings.upstream
    return await _reachable(reactor, upstream.stats_url + "/packages/pip/recent", upstream.timeout)


async def clickhouse(reactor: Any, settings: Settings) -> str:
    """The latest day of ClickHouse's data, asked as the daemon asks it (shown without the URL's userinfo
    and query string, where a user and password may be)."""
    upstream = settings.upstream
    parts = urlsplit(upstream.clickhouse_url)
    where = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2], query="", fragment=""))
    http, pool = wiring.probe_client(reactor, upstream.timeout)
    try:
        day = await ClickHouse(reactor, http, upstream.clickhouse_url, upstream.timeout).latest()
    except Unavailable as failure:
        raise NotReady(f"{where}: {failure}") from None
    finally:
        await pool.closeCachedConnections()
    return f"{where} answers: data up to {day}"


Check = tuple[str, Callable[[Any, Settings], Awaitable[str]]]
CHECKS: list[Check] = [
    ("node", _node),
    ("renderer", _renderer),
    ("redis", _redis),
    ("pypi", _pypi),
    ("pypistats", _stats),
]


async def check(reactor: Any, settings: Settings) -> None:
    """One line per dependency (ClickHouse's when it is a downloads source); exits 1 when any is missing or
    unreachable."""
    failed = 0
    used = [
        *CHECKS,
        *([("clickhouse", clickhouse)] if "clickhouse" in settings.upstream.downloads_sources else []),
    ]
    for name, probe in used:
        try:
            print(f"{name}: ok: {await probe(reactor, settings)}")
        except NotReady as problem:
            print(f"{name}: FAILED: {problem}")
            failed += 1
    if failed:
        raise SystemExit(1)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pypipin",
        description="PyPI badges as a self-hosted Twisted service. "
        "Run the daemon with: twistd -n pypipin [options]",
    )
    parser.add_argument("--version", action="version", version=f"pypipin {metadata.version('pypipin')}")
    commands = parser.add_subparsers(dest="command", required=True)
    renderer = commands.add_parser("renderer", help="the Node renderer's npm packages")
    actions = renderer.add_subparsers(dest="action", required=True)
    setup = actions.add_parser("install", help="install them now (npm ci), e.g. in an image build")
    setup.add_argument(
        "--dir",
        type=Path,
        default=None,
        help=f"where (default: the per-user directory the daemon uses, now {default_dir()})",
    )
    setup.add_argument("--node", default=DEFAULT_NODE, help="the node executable (default: %(default)s)")
    commands.add_parser(
        "check",
        add_help=False,
        help="check node, the renderer, Redis and the upstreams with the daemon's options "
        "(pypipin check [twistd pypipin options])",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    arguments, rest = parser.parse_known_args(argv)
    if arguments.command == "renderer":
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        # casts: the observers provide these zope interfaces, which mypy cannot see
        ours = FilteringLogObserver(
            cast(ILogObserver, textFileLogObserver(sys.stderr)),
            [
                cast(
                    ILogFilterPredicate,
                    lambda event: (
                        PredicateResult.yes
                        if event.get("log_namespace", "").startswith("pypipin")
                        else PredicateResult.no
                    ),
                )
            ],
        )
        globalLogBeginner.beginLoggingTo([cast(ILogObserver, ours)], redirectStandardIO=False)

        async def provision(reactor: Any) -> None:
            try:
                await renderer_install(reactor, arguments.dir, arguments.node)
            except NotReady as problem:
                raise SystemExit(f"pypipin renderer install: {problem}") from None

        task.react(lambda reactor: defer.ensureDeferred(provision(reactor)))
    options = Options()
    try:
        options.parseOptions(rest)
    except usage.UsageError as error:
        print(f"config: FAILED: {error}")
        sys.exit(2)
    print("config: ok")
    settings = Settings.from_options(options)
    task.react(lambda reactor: defer.ensureDeferred(check(reactor, settings)))
