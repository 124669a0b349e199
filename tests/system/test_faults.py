"""Failing dependencies: upstream faults, Redis killed or hung, node killed, SIGTERM mid-request."""

import json
import os
import re
import signal

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.internet.threads import deferToThread

from pypipin.data.keys import KEY_PREFIX
from pypipin.waiting import poll_until
from tests.support.fakepypi import FakeUpstream
from tests.support.loopback import get, sleep, svg_text
from tests.support.processes import RedisServer

pytestmark = pytest.mark.processes


async def timed_get(url: str) -> tuple[float, object, bytes]:
    started = reactor.seconds()
    response, body = await get(url)
    return reactor.seconds() - started, response, body


@pytest_twisted.ensureDeferred
async def test_redis_killed_and_restarted(upstream: FakeUpstream, redis: RedisServer, start_daemon) -> None:
    for name in ("one", "two", "three"):
        upstream.add(name)
    daemon = await start_daemon(redis.url).ready()
    _, body = await get(f"{daemon.url}/v/one/badge.svg")
    assert svg_text(body) == ["pypi", "v1.2.3"]
    redis.stop()
    for url in ("/v/one/badge.svg", "/v/one/badge.svg?style=social", "/wheel/two/badge.svg"):
        elapsed, response, body = await timed_get(daemon.url + url)
        assert response.code == 200 and elapsed < 1.5, url
    _, health = await get(daemon.url + "/health")
    assert json.loads(health)["cache"] == "in-process fallback"
    await deferToThread(redis.start)

    async def back() -> bool:
        _, health = await get(daemon.url + "/health")
        return json.loads(health)["cache"] == "redis"

    started = reactor.seconds()
    while not await back():  # reconnection backs off: 1 s, 2.7 s, 7.4 s, then every 15 s
        assert reactor.seconds() - started < 20, "Redis not used again within 20 s"
        await sleep(0.2)
    _, body = await get(f"{daemon.url}/v/three/badge.svg")
    assert svg_text(body) == ["pypi", "v1.2.3"]
    assert KEY_PREFIX + "pypi:three" in redis.command("KEYS", "*").split()
    log = daemon.log_text()  # one line when it went, one when it came back, with the duration
    assert log.count("Redis unusable") == 1 and len(re.findall(r"Redis is back after \d+\.\d s", log)) == 1


@pytest_twisted.ensureDeferred
async def test_hung_redis_costs_at_most_a_short_timeout(
    upstream: FakeUpstream, redis: RedisServer, start_daemon
) -> None:
    upstream.add("demo")
    daemon = await start_daemon(redis.url).ready()
    await get(f"{daemon.url}/v/demo/badge.svg")
    os.kill(redis.process.pid, signal.SIGSTOP)
    try:
        for style in ("plastic", "social"):
            elapsed, response, _body = await timed_get(f"{daemon.url}/v/demo/badge.svg?style={style}")
            assert response.code == 200 and elapsed < 3.5, elapsed  # a few 1 s command timeouts at most
    finally:
        os.kill(redis.process.pid, signal.SIGCONT)
    elapsed, response, _ = await timed_get(f"{daemon.url}/wheel/demo/badge.svg")
    assert response.code == 200


@pytest_twisted.ensureDeferred
async def test_renderer_killed_again_and_again(upstream: FakeUpstream, start_daemon) -> None:
    upstream.add("demo")
    daemon = await start_daemon().ready()
    _, cached = await get(f"{daemon.url}/wheel/demo/badge.svg")
    outcomes = []
    for round_ in range(5):
        for node in daemon.children():
            os.kill(node, signal.SIGKILL)
        await sleep(0.05)
        elapsed, response, body = await timed_get(f"{daemon.url}/wheel/demo/badge.svg")
        assert response.code == 200 and body == cached and elapsed < 0.5  # cached images never fail
        elapsed, response, body = await timed_get(f"{daemon.url}/wheel/demo/badge.svg?label=round{round_}")
        assert elapsed < 5 + 1.0
        if response.code == 503:
            assert response.headers.getRawHeaders(b"retry-after") == [b"1"]
        else:
            assert response.code == 200 and svg_text(body) == [f"round{round_}", "yes"]
        outcomes.append(response.code)
    assert await poll_until(reactor, lambda: len(daemon.children()) == 1, 5)
    _, body = await get(f"{daemon.url}/wheel/demo/badge.svg?label=after")
    assert svg_text(body) == ["after", "yes"]
    assert "restart 5" in daemon.log_text()
    print(f"new renders while node was being killed: {outcomes}")


@pytest_twisted.ensureDeferred
async def test_sigterm_finishes_requests_in_flight(upstream: FakeUpstream, start_daemon) -> None:
    upstream.add("slow")
    daemon = await start_daemon().ready()
    await get(f"{daemon.url}/v/warmup/badge.svg")  # the renderer is up
    upstream.delay = 1.0
    in_flight = defer.ensureDeferred(get(f"{daemon.url}/v/slow/badge.svg"))
    await sleep(0.3)
    (node,) = daemon.children()
    daemon.process.send_signal(signal.SIGTERM)
    response, body = await in_flight
    assert response.code == 200 and svg_text(body) == ["pypi", "v1.2.3"]
    assert await deferToThread(daemon.process.wait, 15) == 0
    assert not os.path.exists(f"/proc/{node}") or "zombie" in open(f"/proc/{node}/status").read().lower()
