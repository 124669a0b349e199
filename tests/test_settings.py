"""Settings: every option lands in one frozen, typed value, in the units its parts take; the wiring
builds from it; --port and --metrics-port take a bare port number, and a bad one is one line."""

import dataclasses
import resource
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import MultiService
from twisted.internet.testing import MemoryReactorClock
from twisted.python import usage
from twisted.web.server import Site

from pypipin import wiring
from pypipin.options import Options, environment_name
from pypipin.renderer.provision import default_dir
from pypipin.settings import Settings
from pypipin.store.memory import MemoryStore
from pypipin.store.redis import RedisStore
from pypipin.upstream.indexes import Index
from pypipin.web.listener import RESERVED_FDS, Listener

MIB = 1024 * 1024  # written out, not imported: the unit is what is tested


def settings(*args: str) -> Settings:
    options = Options()
    options.parseOptions(list(args))
    return Settings.from_options(options)


def networks(found: tuple[Any, ...]) -> list[str]:
    return [str(network) for network in found]


# option: (a value other than its default, where it lands, what it is there)
GIVEN: dict[str, tuple[str, Callable[[Settings], Any], Any]] = {
    "port": ("tcp:9001:interface=127.0.0.1", lambda s: s.listener.port, "tcp:9001:interface=127.0.0.1"),
    "redis": ("redis://127.0.0.1:6390/2", lambda s: s.cache.redis_url, "redis://127.0.0.1:6390/2"),
    "redis-password-file": ("<secret>", lambda s: s.cache.redis_password_file, "<secret>"),
    "redis-ca": ("<readable>", lambda s: s.cache.redis_ca, "<readable>"),
    "pypi-url": (
        "https://mirror.example/pypi/",
        lambda s: s.upstream.indexes["pypi"].url,
        "https://mirror.example/pypi",
    ),
    "stats-url": ("http://stats.example/api", lambda s: s.upstream.stats_url, "http://stats.example/api"),
    "downloads-source": ("pypistats", lambda s: s.upstream.downloads_sources, ("pypistats",)),
    "clickhouse-url": (
        "http://ch.example:8123/?user=pypi",
        lambda s: s.upstream.clickhouse_url,
        "http://ch.example:8123/?user=pypi",
    ),
    "clickhouse-rate": ("12", lambda s: s.upstream.clickhouse_per_hour, 12.0),
    "pypi-ttl": ("120", lambda s: s.upstream.pypi_ttl, 120),
    "stats-ttl": ("240", lambda s: s.upstream.stats_ttl, 240),
    "stale-ttl": ("480", lambda s: s.upstream.stale_ttl, 480),
    "feed-url": ("http://feed.test/rss", lambda s: s.upstream.feed_url, "http://feed.test/rss"),
    "feed-interval": ("12.5", lambda s: s.upstream.feed_interval, 12.5),
    "pypi-ttl-with-feed": ("7200", lambda s: s.upstream.pypi_ttl_with_feed, 7200),
    "stats-rate": ("12.5", lambda s: s.upstream.stats_per_minute, 12.5),  # a minute already
    "upstream-timeout": ("2.5", lambda s: s.upstream.timeout, 2.5),
    "upstream-concurrency": ("7", lambda s: s.upstream.concurrency, 7),
    "upstream-max-mb": ("3", lambda s: s.upstream.max_bytes, 3 * MIB),
    "renderer-port": ("18999", lambda s: s.renderer.port, 18999),
    "node": ("/opt/node/bin/node", lambda s: s.renderer.node, "/opt/node/bin/node"),
    "renderer-dir": (
        "/srv/renderer",
        lambda s: (s.renderer.directory, s.renderer.provision),
        (Path("/srv/renderer"), False),
    ),
    "access-log": ("/var/log/pypipin.log", lambda s: s.access_log.where, "/var/log/pypipin.log"),
    "log-format": ("json", lambda s: s.access_log.format, "json"),
    "workers": ("3", lambda s: s.workers.count, 3),
    "cache-entries": ("500", lambda s: s.cache.entries, 500),
    "cache-mb": ("5", lambda s: s.cache.bytes, 5 * MIB),
    "metrics-allow": (
        "10.0.0.0/8, 192.0.2.7",
        lambda s: networks(s.metrics.allow),
        ["10.0.0.0/8", "192.0.2.7/32"],
    ),
    "metrics-port": ("9108", lambda s: s.metrics.port, "tcp:9108"),
    "index-file": ("<secret>", lambda s: sorted(s.upstream.indexes), ["corp", "pypi"]),
    "pypi-rate": ("2.5", lambda s: (s.upstream.pypi_per_minute, s.upstream.pypi_burst), (150.0, 5)),
    "client-names": ("30", lambda s: s.budgets.names_per_minute, 30.0),
    "client-renders": ("40", lambda s: s.budgets.renders_per_minute, 40.0),
    "global-renders": ("25", lambda s: s.budgets.renders_per_second, 25.0),
    "refusal-delay": ("0", lambda s: s.budgets.refusal_delay, 0.0),
    "trusted-proxy": ("10.1.0.0/16", lambda s: networks(s.listener.trusted_proxies), ["10.1.0.0/16"]),
    "client-connections": ("9", lambda s: s.listener.client_connections, 9),
    "max-connections": ("333", lambda s: s.listener.max_connections, 333),
    "head-timeout": ("3", lambda s: s.listener.head_timeout, 3.0),
    "idle-timeout": ("4", lambda s: s.listener.idle_timeout, 4.0),
    "response-timeout": ("6", lambda s: s.listener.response_timeout, 6.0),
    "render-concurrency": ("3", lambda s: s.renderer.concurrency, 3),
}


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """What ``<secret>`` (a mode-0600 index file, also read as a password) and ``<readable>`` stand for."""
    secret = tmp_path / "secret"
    secret.write_text("corp https://corp.example/pypi\n")
    secret.chmod(0o600)
    readable = tmp_path / "ca.pem"
    readable.write_text("")
    return {"<secret>": str(secret), "<readable>": str(readable)}


def test_every_option_has_a_place_in_the_settings() -> None:
    assert sorted(GIVEN) == sorted(name for name, *_ in Options.optParameters)


@pytest.mark.parametrize("option", sorted(GIVEN))
def test_every_option_lands_typed_and_in_its_unit(option: str, files: dict[str, str]) -> None:
    value, where, expected = GIVEN[option]
    value = files.get(value, value)
    found = where(settings(f"--{option}", value))
    expected = files.get(expected, expected) if isinstance(expected, str) else expected
    assert found == expected
    assert type(found) is type(expected)
    assert where(settings()) != found  # the default is something else: the value given made the difference


@pytest.mark.parametrize("option", sorted(GIVEN))
def test_every_environment_twin_lands_as_its_option_does(
    option: str, files: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    value, where, _ = GIVEN[option]
    value = files.get(value, value)
    monkeypatch.setenv(environment_name(option), value)
    assert where(settings()) == where(settings(f"--{option}", value))
    monkeypatch.delenv(environment_name(option))
    assert where(settings()) != where(settings(f"--{option}", value))


def test_defaults_in_their_units() -> None:
    found = settings()
    assert (found.cache.bytes, found.cache.entries, found.upstream.max_bytes) == (64 * MIB, 10000, 20 * MIB)
    assert (found.upstream.pypi_per_minute, found.upstream.pypi_burst, found.upstream.stats_per_minute) == (
        1200.0,
        40,
        20.0,
    )
    assert (found.listener.port, found.metrics.port, found.cache.redis_url) == (
        "tcp:8888",
        None,
        "redis://127.0.0.1:6379/0",
    )
    drawing = found.renderer
    assert (drawing.directory, drawing.provision, drawing.port) == (default_dir(), True, 0)
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert found.listener.max_connections == max(64, soft - RESERVED_FDS)  # 0: resolved, once
    loopback = ["127.0.0.1/32", "::1/128"]
    assert networks(found.metrics.allow) == networks(found.listener.trusted_proxies) == loopback
    assert list(found.upstream.indexes) == ["pypi"] and isinstance(found.upstream.indexes["pypi"], Index)
    assert settings("--redis", "none").cache.redis_url is None


def test_settings_are_frozen() -> None:
    found = settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.listener.port = "tcp:1"  # type: ignore[misc]
    with pytest.raises(TypeError):
        found.upstream.indexes["evil"] = found.upstream.indexes["pypi"]  # type: ignore[index]


@pytest.mark.parametrize("option", ["port", "metrics-port"])
@pytest.mark.parametrize(
    "given, meant",
    [
        ("8899", "tcp:8899"),
        ("0", "tcp:0"),
        ("tcp:8899", "tcp:8899"),
        ("tcp:8899:interface=127.0.0.1", "tcp:8899:interface=127.0.0.1"),
        ("unix:/run/pypipin.sock", "unix:/run/pypipin.sock"),
        (r"tcp6:8899:interface=\:\:1", r"tcp6:8899:interface=\:\:1"),
    ],
)
def test_a_port_is_a_number_or_a_strports_description(
    option: str, given: str, meant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def where(found: Settings) -> str | None:
        return found.listener.port if option == "port" else found.metrics.port

    assert where(settings(f"--{option}", given)) == meant
    monkeypatch.setenv(environment_name(option), given)
    assert where(settings()) == meant


@pytest.mark.parametrize("option", ["port", "metrics-port"])
@pytest.mark.parametrize("given", ["8899x", "70000", "tcp:abc", "tcp:8888:bogus=1", "foo:bar", "tcp:"])
def test_a_bad_port_is_one_line_naming_the_option(
    option: str, given: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    twin = environment_name(option)
    for attempt in ([f"--{option}", given], []):
        if not attempt:
            monkeypatch.setenv(twin, given)
        with pytest.raises(usage.UsageError) as refused:
            Options().parseOptions(attempt)
        said = str(refused.value)
        assert f"--{option} (env {twin}): {given!r} is not a" in said and "\n" not in said


def test_no_port_given_is_refused_but_no_metrics_port_means_none() -> None:
    with pytest.raises(usage.UsageError, match=r"--port \(env PYPIPIN_PORT\): '' is not a port number"):
        settings("--port", "")
    assert settings("--metrics-port", "").metrics.port is None


def _web(daemon: MultiService) -> list[StreamServerEndpointService]:
    """The listening services of a daemon's tree."""
    return [
        each
        for child in daemon
        if isinstance(child, MultiService)
        for each in child
        if isinstance(each, StreamServerEndpointService)
    ]


@pytest.mark.parametrize(
    "args, listening",
    [
        ((), [(8888, Listener)]),
        (("--port", "8899", "--metrics-port", "9108"), [(8899, Listener), (9108, Site)]),
    ],
)
def test_the_daemon_is_wired_from_settings(args: tuple[str, ...], listening: list[tuple[int, type]]) -> None:
    """make_service on a memory reactor: it listens where the settings say, and nowhere else yet."""
    reactor = MemoryReactorClock()
    given = settings(
        "--redis", "none", "--renderer-port", "18999", "--access-log", "none", "--workers", "1", *args
    )
    daemon = wiring.make_service(given, reactor)
    for each in _web(daemon):
        each.startService()
    assert [(port, type(factory)) for port, factory, *_ in reactor.tcpServers] == listening
    assert not reactor.tcpClients  # no Redis
    for each in _web(daemon):
        each.stopService()


def test_the_shared_redis_is_built_in_the_wiring_from_settings(tmp_path: Path) -> None:
    assert wiring.redis_address(settings("--redis", "none")) is None
    password = tmp_path / "password"
    password.write_text("from-file\n")
    password.chmod(0o600)
    found = settings("--redis", "redis://127.0.0.1:6390/3", "--redis-password-file", str(password))
    where = wiring.redis_address(found)
    assert where is not None and (where.port, where.db, where.password) == (6390, 3, "from-file")
    reactor = MemoryReactorClock()  # records the connection attempt; nothing answers it
    fallback = MemoryStore(wiring.lru(reactor, found))
    store = wiring.redis_store(found, reactor, where, fallback, timeout=2.0)
    assert isinstance(store, RedisStore) and store.state == "in-process fallback"
    assert [(host, port) for host, port, *_ in reactor.tcpClients] == [("127.0.0.1", 6390)]


def test_the_in_process_caches_take_their_size_from_settings() -> None:
    cache = wiring.lru(MemoryReactorClock(), settings("--cache-entries", "2", "--cache-mb", "1"))
    cache.set("a", b"x" * 10, 60)
    cache.set("b", b"x" * 10, 60)
    cache.set("c", b"x" * 10, 60)
    assert len(cache) == 2
    big = wiring.lru(MemoryReactorClock(), settings("--cache-mb", "1"))
    big.set("huge", b"x" * (MIB + 1), 60)
    assert len(big) == 0


def test_the_feed_is_beside_the_json_api_unless_given_or_none() -> None:
    assert (
        settings("--pypi-url", "https://pypi.test/pypi").upstream.feed_url
        == "https://pypi.test/rss/updates.xml"
    )
    assert settings("--feed-url", "none").upstream.feed_url is None
