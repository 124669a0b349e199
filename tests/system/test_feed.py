"""A fleet of three twistd daemons on one real Redis following the fake PyPI's update feed."""

import json
import time
from typing import Any

import pytest
import pytest_twisted

from tests.support.fakepypi import FakeUpstream
from tests.support.loopback import get, sleep
from tests.support.processes import Daemon, RedisServer

pytestmark = pytest.mark.processes

INTERVAL = 2.0


async def version(daemon: Daemon, name: str) -> str:
    response, body = await get(f"{daemon.url}/v/{name}/badge.json")
    assert response.code == 200
    return str(json.loads(body)["message"])


async def health(daemon: Daemon) -> dict[str, Any]:
    _, body = await get(f"{daemon.url}/health")
    feed: dict[str, Any] = json.loads(body)["feeds"]["pypi"]
    return feed


async def until(check: Any, seconds: float) -> float:
    """Seconds until ``check()`` (async) is true; fails past ``seconds``."""
    start = time.monotonic()
    while not await check():
        assert time.monotonic() - start < seconds, "not within the time allowed"
        await sleep(0.2)
    return time.monotonic() - start


@pytest_twisted.ensureDeferred
async def test_a_release_shows_on_every_daemon_within_an_interval_and_the_feed_down_falls_back(
    upstream: FakeUpstream, redis: RedisServer, start_daemon: Any
) -> None:
    upstream.add("demo", version="1.0")
    fleet = [await start_daemon(redis.url, "--feed-interval", str(INTERVAL)).ready() for _ in range(3)]
    assert [await version(daemon, "demo") for daemon in fleet] == ["v1.0"] * 3

    async def every(mode: str) -> bool:
        return all([(await health(daemon))["mode"] == mode for daemon in fleet])

    await until(lambda: every("feed"), 4 * INTERVAL)
    reads = upstream.requests["/rss/updates.xml"]
    await sleep(5 * INTERVAL)
    assert upstream.requests["/rss/updates.xml"] - reads <= 6  # one poller for the fleet, not three

    upstream.release("demo", "2.0")

    took = await until(lambda: shown_version(fleet, "v2.0"), INTERVAL + 5)
    print(f"release to badge on all three daemons: {took:.1f} s")

    upstream.feed_down = True
    await until(lambda: every("fallback"), 3 * INTERVAL + 5)
    assert [await version(daemon, "demo") for daemon in fleet] == ["v2.0"] * 3  # badges keep answering
    upstream.feed_down = False
    await until(lambda: every("feed"), 2 * INTERVAL + 5)
    upstream.release("demo", "3.0")
    await until(lambda: shown_version(fleet, "v3.0"), INTERVAL + 5)


async def shown_version(fleet: list[Daemon], wanted: str) -> bool:
    return [await version(daemon, "demo") for daemon in fleet] == [wanted] * 3
