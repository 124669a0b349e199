"""``twistd -n pypipin`` as a user runs it: real Redis, the real Node renderer, the fake upstream."""

import os
import signal
import time

import pytest
import pytest_twisted
from twisted.internet import defer, task

from pypipin.data.keys import KEY_PREFIX
from tests.support.fakepypi import FakeUpstream
from tests.support.loopback import get, sleep, svg_text
from tests.support.processes import RedisServer
from tests.support.stack import BADGE_NAMES, CLASSIFIERS, Stack

pytestmark = pytest.mark.processes


@pytest_twisted.ensureDeferred
async def test_every_badge_says_in_a_real_daemon_what_it_says_in_memory(
    upstream: FakeUpstream, redis: RedisServer, start_daemon
) -> None:
    package = {"version": "24.11.0", "classifiers": CLASSIFIERS, "month": 2_345_678}
    upstream.add("twisted", **package)
    now = task.Clock()
    now.advance(time.time() - 1_000_000)  # the Stack moves it on by that: the daemon's day, for release dates
    memory = Stack(clock=now)  # test_answers.py checks each badge's words in memory
    memory.upstream.add("twisted", **package)
    daemon = await start_daemon(redis.url).ready()
    answers = await defer.gatherResults(
        [defer.ensureDeferred(get(f"{daemon.url}/{badge}/Twisted/badge.svg")) for badge in BADGE_NAMES]
    )
    shown = {}
    for badge, (response, body) in zip(BADGE_NAMES, answers, strict=True):
        assert response.code == 200, (badge, body)
        assert response.headers.getRawHeaders(b"content-type") == [b"image/svg+xml;charset=utf-8"]
        shown[badge] = svg_text(body)
    assert shown == {badge: memory.get(f"/{badge}/Twisted/badge.svg").shown for badge in BADGE_NAMES}
    assert shown["d"] == ["downloads", "2.3M/month"]
    # one call each for the JSON, downloads and simple documents (no file attested: no Integrity call); the
    # update feed is the daemon's own, read once at start
    assert upstream.requests == {
        "/pypi/twisted/json": 1,
        "/api/packages/twisted/recent": 1,
        "/simple/twisted/": 1,
        "/rss/updates.xml": 1,
    }
    # the summary is in Redis under a namespaced key with a TTL; the raw document is not
    keys = redis.command("KEYS", KEY_PREFIX + "*").split()
    assert KEY_PREFIX + "pypi:twisted" in keys and KEY_PREFIX + "stats:twisted" in keys
    assert int(redis.command("TTL", KEY_PREFIX + "pypi:twisted")) > 0
    assert "A long description" not in redis.command("GET", KEY_PREFIX + "pypi:twisted")

    # DJANGO-style spellings are the same package: no new upstream call
    before = upstream.total()
    response, body = await get(f"{daemon.url}/v/TWISTED/badge.svg?style=plastic")
    assert response.code == 200 and svg_text(body) == ["pypi", "v24.11.0"]
    assert upstream.total() == before


@pytest_twisted.ensureDeferred
async def test_renderer_restarted_after_kill(upstream: FakeUpstream, start_daemon) -> None:
    upstream.add("demo")
    daemon = await start_daemon().ready()
    response, _ = await get(f"{daemon.url}/wheel/demo/badge.svg")
    assert response.code == 200
    (node,) = daemon.children()
    os.kill(node, signal.SIGKILL)
    await sleep(0.2)
    # a badge never drawn before needs the renderer: it waits for procmon's restart
    response, body = await get(f"{daemon.url}/wheel/demo/badge.svg?style=for-the-badge")
    assert response.code == 200 and svg_text(body) == ["WHEEL", "YES"]
    (restarted,) = daemon.children()
    assert restarted != node


@pytest_twisted.ensureDeferred
async def test_without_redis_badges_are_still_served(upstream: FakeUpstream, start_daemon) -> None:
    from pypipin.renderer.process import free_port

    upstream.add("demo")
    daemon = await start_daemon(f"redis://127.0.0.1:{free_port()}/0").ready()
    for _ in range(3):
        response, body = await get(f"{daemon.url}/v/demo/badge.svg")
        assert response.code == 200 and svg_text(body) == ["pypi", "v1.2.3"]
    assert upstream.requests["/pypi/demo/json"] == 1  # the in-process cache stood in
    await sleep(0.1)
    assert daemon.log_text().count("Redis unusable (Connection was refused") == 1
