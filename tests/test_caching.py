"""Caching: one upstream call per burst, images drawn once, stale on failure, HTTP caching."""

import re

import pytest_twisted
from twisted.internet import defer

from conftest import get
from pypipin.cache import KEY_PREFIX
from processes import RedisServer
from fakepypi import FakeUpstream
from test_daemon import sleep, svg_text
from pypipin.request import STYLES



def burst(urls: list[str]) -> defer.Deferred:
    return defer.gatherResults([defer.ensureDeferred(get(url)) for url in urls])


async def metric(daemon_url: str, name: str, **labels: str) -> float:
    """One sample of the daemon's /metrics (0 when absent)."""
    _, body = await get(daemon_url + "/metrics")
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    match = re.search(rf"^{name}\{{{re.escape(wanted)}\}} (\S+)$", body.decode(), re.M)
    return float(match.group(1)) if match else 0.0


@pytest_twisted.ensureDeferred
async def test_a_burst_costs_one_upstream_call_and_one_render_per_image(
    upstream: FakeUpstream, redis: RedisServer, start_daemon
) -> None:
    upstream.add("demo")
    upstream.delay = 0.3  # everyone arrives while the first fetch is under way
    daemon = await start_daemon(redis.url).ready()
    urls = [f"{daemon.url}/{badge}/demo/badge.svg?style={style}&n={n}"
            for badge in ("v", "wheel", "d") for style in STYLES for n in range(4)]
    answers = await burst(urls)
    assert {response.code for response, _ in answers} == {200}
    assert upstream.requests == {"/pypi/demo/json": 1, "/api/packages/demo/recent": 1}
    # 3 badges x 5 styles = 15 distinct images, each drawn once although asked 4 times
    assert await metric(daemon.url, "pypipin_renders_total", outcome="ok") == 15


@pytest_twisted.ensureDeferred
async def test_generic_images_are_drawn_once_for_all_packages(upstream: FakeUpstream, start_daemon) -> None:
    for name in ("alpha", "beta", "gamma"):
        upstream.add(name)
    daemon = await start_daemon().ready()
    for name in ("alpha", "beta", "gamma"):
        response, body = await get(f"{daemon.url}/wheel/{name}/badge.svg")
        assert svg_text(body) == ["wheel", "yes"]
    assert await metric(daemon.url, "pypipin_renders_total", outcome="ok") == 1
    assert await metric(daemon.url, "pypipin_cache_lookups_total", layer="images", result="hit") == 2


@pytest_twisted.ensureDeferred
async def test_two_daemons_on_one_redis_share_one_pypi_call(
    upstream: FakeUpstream, redis: RedisServer, start_daemon
) -> None:
    upstream.add("shared")
    upstream.delay = 0.4
    first = await start_daemon(redis.url).ready()
    second = await start_daemon(redis.url).ready()
    urls = [f"{daemon.url}/v/shared/badge.svg?style={style}" for daemon in (first, second) for style in STYLES]
    answers = await burst(urls)
    assert {tuple(text.lower() for text in svg_text(body)) for _, body in answers} == {("pypi", "v1.2.3")}
    assert upstream.requests["/pypi/shared/json"] == 1


@pytest_twisted.ensureDeferred
async def test_stale_copy_served_when_upstream_fails(upstream: FakeUpstream, redis: RedisServer, start_daemon) -> None:
    upstream.add("demo", version="2.0.0")
    daemon = await start_daemon(redis.url, "--pypi-ttl", "1").ready()
    response, body = await get(f"{daemon.url}/v/demo/badge.svg")
    assert svg_text(body) == ["pypi", "v2.0.0"]
    await sleep(1.2)
    for n, fault in enumerate(("500", "garbage", "wrong-type", "timeout", "429")):
        upstream.fault = fault
        response, body = await get(f"{daemon.url}/v/demo/badge.svg?n={n}")
        assert response.code == 200 and svg_text(body) == ["pypi", "v2.0.0"], fault
        assert b"max-age=60," in response.headers.getRawHeaders(b"cache-control")[0]
    # after the 429 (Retry-After: 30) no PyPI call is made at all for a while
    upstream.fault = None
    before = upstream.total()
    response, body = await get(f"{daemon.url}/v/never-seen/badge.svg")
    assert svg_text(body) == ["pypi", "rate limited"]
    assert upstream.total() == before


@pytest_twisted.ensureDeferred
async def test_errors_are_not_cached_and_not_found_is_cached_briefly(upstream: FakeUpstream, start_daemon) -> None:
    daemon = await start_daemon().ready()
    upstream.fault = "500"
    response, body = await get(f"{daemon.url}/v/demo/badge.svg")
    assert svg_text(body) == ["pypi", "unavailable"]
    upstream.fault = None
    upstream.add("demo")
    response, body = await get(f"{daemon.url}/v/demo/badge.svg?style=plastic")
    assert svg_text(body) == ["pypi", "v1.2.3"]

    for style in STYLES:
        response, body = await get(f"{daemon.url}/v/ghost/badge.svg?style={style}")
        assert svg_text(body)[1].lower() == "not found"
    assert upstream.requests["/pypi/ghost/json"] == 1


@pytest_twisted.ensureDeferred
async def test_upstream_timeout_gives_unavailable_in_time(upstream: FakeUpstream, start_daemon) -> None:
    from twisted.internet import reactor

    upstream.fault = "timeout"
    daemon = await start_daemon().ready()
    started = reactor.seconds()
    response, body = await get(f"{daemon.url}/v/slow/badge.svg")
    assert svg_text(body) == ["pypi", "unavailable"]
    assert reactor.seconds() - started < 2 + 1.5  # --upstream-timeout 2, plus a margin


@pytest_twisted.ensureDeferred
async def test_http_caching_headers_etag_and_304(upstream: FakeUpstream, start_daemon) -> None:
    upstream.add("demo")
    daemon = await start_daemon().ready()
    response, body = await get(f"{daemon.url}/wheel/demo/badge.svg")
    (control,) = response.headers.getRawHeaders(b"cache-control")
    assert control == (b"public, max-age=3600, s-maxage=3600, stale-while-revalidate=86400, "
                       b"stale-if-error=604800")
    (etag,) = response.headers.getRawHeaders(b"etag")
    assert re.fullmatch(rb'"[0-9a-f]{32}"', etag)
    for _ in range(2):  # first from the app, then from the hot path
        again, empty = await get(f"{daemon.url}/wheel/demo/badge.svg", headers={b"If-None-Match": [b'"x", ' + etag]})
        assert again.code == 304 and empty == b""
    response, _ = await get(f"{daemon.url}/v/demo/badge.svg")
    assert b"max-age=600," in response.headers.getRawHeaders(b"cache-control")[0]
    response, _ = await get(f"{daemon.url}/v/demo/badge.svg?cacheSeconds=7200")
    assert b"max-age=7200," in response.headers.getRawHeaders(b"cache-control")[0]
    response, _ = await get(f"{daemon.url}/wheel/demo/badge.svg?cacheSeconds=5")
    assert b"max-age=3600," in response.headers.getRawHeaders(b"cache-control")[0]


@pytest_twisted.ensureDeferred
async def test_stats_calls_are_rate_limited_on_our_side(upstream: FakeUpstream, start_daemon) -> None:
    names = [f"pkg{n}" for n in range(8)]
    for name in names:
        upstream.add(name, month=5)
    daemon = await start_daemon("none", "--stats-rate", "1").ready()
    shown = []
    for name in names:
        _, body = await get(f"{daemon.url}/d/{name}/badge.svg")
        shown.append(svg_text(body)[1])
    assert shown == ["5/month"] * 5 + ["unavailable"] * 3  # a burst of 5, then one a minute
    assert upstream.total("/api/") == 5


@pytest_twisted.ensureDeferred
async def test_corrupt_values_in_redis_are_misses(upstream: FakeUpstream, redis: RedisServer, start_daemon) -> None:
    upstream.add("demo")
    daemon = await start_daemon(redis.url).ready()
    redis.command("SET", KEY_PREFIX + "pypi:demo", "{not json")
    redis.command("LPUSH", KEY_PREFIX + "stats:demo", "a list, not a string")
    response, body = await get(f"{daemon.url}/v/demo/badge.svg")
    assert svg_text(body) == ["pypi", "v1.2.3"]
    response, body = await get(f"{daemon.url}/d/demo/badge.svg")
    assert svg_text(body) == ["downloads", "1k/month"]
    for key in redis.command("KEYS", KEY_PREFIX + "img:*").split():
        redis.command("SET", key, "garbage")
    response, body = await get(f"{daemon.url}/v/demo/badge.svg?style=flat-square")
    assert svg_text(body) == ["pypi", "v1.2.3"]
