"""Logs as an operator meets them: access lines (rotated with SIGUSR1, pure JSON, never lost on
SIGTERM), upstream failures and Redis outages, each in a few lines."""

import json
import os
import re
import signal
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import defer
from twisted.internet.threads import deferToThread

from tests.support.fakepypi import FakeUpstream
from tests.support.loopback import get, sleep
from tests.support.processes import RedisServer

pytestmark = pytest.mark.processes


def requests_in(text: str) -> list[str]:
    """The access lines of ``text``, but for the /health checks made while node started."""
    return [line for line in text.splitlines() if "/health" not in line]


async def lines_of(path: Path, count: int) -> list[str]:
    """The file's access lines once it has ``count`` of them (the log is written every half second)."""
    for _ in range(100):
        lines = requests_in(path.read_text()) if path.exists() else []
        if len(lines) >= count:
            return lines
        await sleep(0.1)
    raise AssertionError(f"{path}: {lines}")


@pytest_twisted.ensureDeferred
async def test_json_lines_tell_duration_host_client_badge_and_cache_layer(
    upstream: FakeUpstream, redis: RedisServer, start_daemon, tmp_path: Path
) -> None:
    upstream.add("demo")
    log = tmp_path / "access.log"
    daemon = await start_daemon(redis.url, "--access-log", str(log), "--log-format", "json").drawing()
    headers = {
        b"User-Agent": [b"readme-bot"],
        b"X-Forwarded-For": [b"203.0.113.9, 10.0.0.1"],
        b"Host": [b"badges.example.org"],
    }
    for url in (
        "/v/demo/badge.svg",
        "/v/demo/badge.svg",
        "/pypi/v/demo.svg",
        "/wheel/demo/badge.png",
        "/nope",
    ):
        await get(daemon.url + url, headers=headers)
    entries = [json.loads(line) for line in await lines_of(log, 5)]
    assert [(e["uri"], e["status"], e["badge"], e["format"], e["cache"]) for e in entries] == [
        ("/v/demo/badge.svg", 200, "version", "svg", "miss"),  # fetched and drawn
        ("/v/demo/badge.svg", 200, "version", "svg", "hot"),  # the same URL again, from memory
        ("/pypi/v/demo.svg", 200, "version", "svg", "redis"),  # the data from Redis, image from memory
        ("/wheel/demo/badge.png", 200, "wheel", "png", "miss"),  # a new image drawn
        ("/nope", 404, "-", "-", "-"),
    ]
    for entry in entries:
        assert (entry["host"], entry["forwarded_for"], entry["agent"], entry["method"]) == (
            "badges.example.org",
            "203.0.113.9, 10.0.0.1",
            "readme-bot",
            "GET",
        )
        assert 0 < entry["duration_ms"] < 5000 and entry["remote"] == "127.0.0.1"
    assert entries[1]["duration_ms"] < entries[0]["duration_ms"]


@pytest_twisted.ensureDeferred
async def test_default_json_access_log_on_stdout_is_pure_json(upstream: FakeUpstream, start_daemon) -> None:
    upstream.add("demo")
    daemon = await start_daemon("none", "--log-format", "json").drawing()
    for style in ("flat", "plastic", "flat"):
        await get(f"{daemon.url}/v/demo/badge.svg?style={style}")
    assert await deferToThread(daemon.stop) == 0
    lines = requests_in(daemon.out_text())
    caches = [json.loads(line)["cache"] for line in lines]  # every line of stdout is one JSON object
    assert caches == ["miss", "miss", "hot"]
    assert "/v/demo/badge.svg" not in daemon.log_text()  # the access lines are not in the twistd log


@pytest_twisted.ensureDeferred
async def test_combined_access_log_on_stdout(upstream: FakeUpstream, start_daemon) -> None:
    upstream.add("demo")
    daemon = await start_daemon().drawing()
    await get(f"{daemon.url}/wheel/demo/badge.svg")
    await deferToThread(daemon.stop)
    (line,) = requests_in(daemon.out_text())
    assert re.fullmatch(
        r'"127\.0\.0\.1" - - \[[^]]+\] "GET /wheel/demo/badge\.svg HTTP/1\.1" 200 \d+ "-" "-"', line
    )


@pytest_twisted.ensureDeferred
async def test_reopened_on_sigusr1_and_sighup_after_rotation(
    upstream: FakeUpstream, start_daemon, tmp_path: Path
) -> None:
    upstream.add("demo")
    log = tmp_path / "access.log"
    daemon = await start_daemon("none", "--access-log", str(log)).drawing()
    await get(f"{daemon.url}/v/demo/badge.svg?n=1")
    await lines_of(log, 1)
    for n, sig in ((2, signal.SIGUSR1), (3, signal.SIGHUP)):
        log.rename(tmp_path / f"access.log.{n - 1}")  # what logrotate does, then its postrotate line
        os.kill(daemon.process.pid, sig)
        await sleep(0.5)
        await get(f"{daemon.url}/v/demo/badge.svg?n={n}")
        (line,) = await lines_of(log, 1)
        assert f"?n={n} " in line
        assert daemon.process.poll() is None, "the signal stopped the daemon"
    assert "?n=1 " in (tmp_path / "access.log.1").read_text()
    assert "?n=2 " in (tmp_path / "access.log.2").read_text()
    assert daemon.log_text().count("Access log reopened") == 2


@pytest_twisted.ensureDeferred
async def test_no_line_lost_on_sigterm(upstream: FakeUpstream, start_daemon, tmp_path: Path) -> None:
    upstream.add("demo")
    log = tmp_path / "access.log"
    daemon = await start_daemon("none", "--access-log", str(log)).drawing()
    await get(f"{daemon.url}/v/demo/badge.svg")
    await defer.gatherResults(
        [defer.ensureDeferred(get(f"{daemon.url}/v/demo/badge.svg?n={n}")) for n in range(300)]
    )
    assert await deferToThread(daemon.stop) == 0  # at once: most lines still wait in memory
    assert len(requests_in(log.read_text())) == 301


@pytest_twisted.ensureDeferred
async def test_upstream_failures_logged_once_a_minute_per_source_and_cause(
    upstream: FakeUpstream, start_daemon
) -> None:
    upstream.fault = "500"
    daemon = await start_daemon().drawing()
    for _ in range(3):
        for name in ("one", "two"):
            for badge in ("v", "wheel", "d"):
                await get(f"{daemon.url}/{badge}/{name}/badge.svg?style=plastic")
    await sleep(0.5)
    failures = [line for line in daemon.log_text().splitlines() if "Upstream" in line]
    assert len(failures) == 2, failures  # pypi and stats once each: "two" waits for the next minute's line
    assert any(
        re.search(r"Upstream pypi failed for one: .*/pypi/one/json: HTTP 500", line) for line in failures
    )
    assert any(
        re.search(r"Upstream stats failed for one: .*/api/packages/one/recent: HTTP 500", line)
        for line in failures
    )
