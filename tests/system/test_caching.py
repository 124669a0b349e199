"""Caching in real Redis: daemons sharing one Redis, and what Redis holds.

The rest of caching (bursts, images, stale copies, lifetimes, headers) is tested in memory: test_answers.py.
"""

import pytest
import pytest_twisted
from twisted.internet import defer

from pypipin.badges.parsing import STYLES
from pypipin.data.keys import KEY_PREFIX
from tests.support.fakepypi import FakeUpstream
from tests.support.loopback import get, svg_text
from tests.support.processes import RedisServer

pytestmark = pytest.mark.processes


@pytest_twisted.ensureDeferred
async def test_two_daemons_on_one_redis_share_one_pypi_call(
    upstream: FakeUpstream, redis: RedisServer, start_daemon
) -> None:
    upstream.add("shared")
    upstream.delay = 0.4
    first = await start_daemon(redis.url).ready()
    second = await start_daemon(redis.url).ready()
    urls = [
        f"{daemon.url}/v/shared/badge.svg?style={style}" for daemon in (first, second) for style in STYLES
    ]
    answers = await defer.gatherResults([defer.ensureDeferred(get(url)) for url in urls])
    assert {tuple(text.lower() for text in svg_text(body)) for _, body in answers} == {("pypi", "v1.2.3")}
    assert upstream.requests["/pypi/shared/json"] == 1


@pytest_twisted.ensureDeferred
async def test_corrupt_values_in_redis_are_misses(
    upstream: FakeUpstream, redis: RedisServer, start_daemon
) -> None:
    upstream.add("demo")
    daemon = await start_daemon(redis.url).ready()
    redis.command("SET", KEY_PREFIX + "pypi:demo", "{not json")
    redis.command("LPUSH", KEY_PREFIX + "stats:demo", "a list, not a string")
    _response, body = await get(f"{daemon.url}/v/demo/badge.svg")
    assert svg_text(body) == ["pypi", "v1.2.3"]
    _response, body = await get(f"{daemon.url}/d/demo/badge.svg")
    assert svg_text(body) == ["downloads", "1k/month"]
    for key in redis.command("KEYS", KEY_PREFIX + "img:*").split():
        redis.command("SET", key, "garbage")
    _response, body = await get(f"{daemon.url}/v/demo/badge.svg?style=flat-square")
    assert svg_text(body) == ["pypi", "v1.2.3"]
