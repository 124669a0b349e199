"""``twistd -n pypipin`` as a user runs it: real Redis, the real Node renderer, the fake upstream."""

import os
import signal
import xml.etree.ElementTree as ET

import pytest_twisted
from twisted.internet import defer, task

from conftest import get
from pypipin.cache import KEY_PREFIX
from processes import RedisServer
from fakepypi import FakeUpstream
from util import BADGE_NAMES

CLASSIFIERS = [
    "Development Status :: 5 - Production/Stable",
    "License :: OSI Approved :: MIT License",
    "Programming Language :: Python :: 3",
    "Programming Language :: Python :: 3.12",
    "Programming Language :: Python :: 3.9",
    "Programming Language :: Python :: Implementation :: CPython",
    "Programming Language :: Python :: Implementation :: PyPy",
]


def svg_text(body: bytes) -> list[str]:
    """The texts an SVG badge shows (badge-maker draws each once as shadow, once as text)."""
    root = ET.fromstring(body)
    texts = [el.text for el in root.iter("{http://www.w3.org/2000/svg}text") if el.text]
    return list(dict.fromkeys(texts))


def sleep(seconds: float) -> defer.Deferred[None]:
    from twisted.internet import reactor

    return task.deferLater(reactor, seconds, lambda: None)


@pytest_twisted.ensureDeferred
async def test_every_badge_of_one_package_costs_one_pypi_and_one_stats_call(
    upstream: FakeUpstream, redis: RedisServer, start_daemon
) -> None:
    upstream.add("twisted", version="24.11.0", classifiers=CLASSIFIERS, month=2_345_678)
    daemon = await start_daemon(redis.url).ready()
    answers = await defer.gatherResults(
        [defer.ensureDeferred(get(f"{daemon.url}/{badge}/Twisted/badge.svg")) for badge in BADGE_NAMES]
    )
    shown = {}
    for badge, (response, body) in zip(BADGE_NAMES, answers):
        assert response.code == 200, (badge, body)
        assert response.headers.getRawHeaders(b"content-type") == [b"image/svg+xml;charset=utf-8"]
        shown[badge] = svg_text(body)
    assert shown == {
        "d": ["downloads", "2.3M/month"],
        "v": ["pypi", "v24.11.0"],
        "py_versions": ["python", "3.9 | 3.12"],
        "implementation": ["implementation", "cpython | pypy"],
        "status": ["status", "stable"],
        "egg": ["egg", "no"],
        "wheel": ["wheel", "yes"],
        "format": ["format", "wheel"],
        "license": ["license", "MIT"],
        "types": ["types", "untyped"],
        "djversions": ["django versions", "missing"],
        "vulnerabilities": ["vulnerabilities", "none known"],
        "free_threading": ["free-threading", "no"],
        "platforms": ["platforms", "any"],
    }
    assert upstream.requests == {"/pypi/twisted/json": 1, "/api/packages/twisted/recent": 1}
    # the summary is in Redis under a namespaced key with a TTL; the raw document is not
    keys = redis.command("KEYS", "pypipin:*").split()
    assert KEY_PREFIX + "pypi:twisted" in keys and KEY_PREFIX + "stats:twisted" in keys
    assert int(redis.command("TTL", KEY_PREFIX + "pypi:twisted")) > 0
    assert "A long description" not in redis.command("GET", KEY_PREFIX + "pypi:twisted")

    # DJANGO-style spellings are the same package: no new upstream call
    response, body = await get(f"{daemon.url}/v/TWISTED/badge.svg?style=plastic")
    assert response.code == 200 and svg_text(body) == ["pypi", "v24.11.0"]
    assert upstream.total() == 2


@pytest_twisted.ensureDeferred
async def test_styles_and_error_badges(upstream: FakeUpstream, start_daemon) -> None:
    upstream.add("demo")
    daemon = await start_daemon("none").ready()
    bodies = set()
    for style in ("flat", "flat-square", "plastic", "for-the-badge", "social"):
        response, body = await get(f"{daemon.url}/wheel/demo/badge.svg?style={style}")
        assert response.code == 200
        bodies.add(body)
    assert len(bodies) == 5

    response, body = await get(f"{daemon.url}/v/-not-a-name-/badge.svg")
    assert response.code == 200 and svg_text(body) == ["pypi", "invalid name"]
    assert b"max-age=86400" in response.headers.getRawHeaders(b"cache-control")[0]

    response, body = await get(f"{daemon.url}/license/no-such-package/badge.svg")
    assert response.code == 200 and svg_text(body) == ["license", "not found"]
    assert b"max-age=60," in response.headers.getRawHeaders(b"cache-control")[0]

    upstream.fault = "500"
    response, body = await get(f"{daemon.url}/v/other/badge.svg")
    assert response.code == 200 and svg_text(body) == ["pypi", "unavailable"]
    assert b"max-age=10," in response.headers.getRawHeaders(b"cache-control")[0]
    assert "/pypi/-not-a-name-/json" not in upstream.requests

    for path in ("/nope/demo/badge.svg", "/v/demo/badge.bmp", "/v/demo"):
        response, body = await get(daemon.url + path)
        assert response.code == 404, path


@pytest_twisted.ensureDeferred
async def test_downloads_come_from_stats_never_from_pypi(upstream: FakeUpstream, start_daemon) -> None:
    upstream.add("demo", day=3, week=42, month=999)
    daemon = await start_daemon().ready()
    for period, text in (("day", "3/day"), ("week", "42/week"), ("month", "999/month"), ("bogus", "999/month")):
        response, body = await get(f"{daemon.url}/download/demo/badge.svg?period={period}")
        assert svg_text(body) == ["downloads", text]
    assert "/pypi/demo/json" not in upstream.requests


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
    from pypipin.renderer import free_port

    upstream.add("demo")
    daemon = await start_daemon(f"redis://127.0.0.1:{free_port()}/0").ready()
    for _ in range(3):
        response, body = await get(f"{daemon.url}/v/demo/badge.svg")
        assert response.code == 200 and svg_text(body) == ["pypi", "v1.2.3"]
    assert upstream.requests["/pypi/demo/json"] == 1  # the in-process cache stood in
    await sleep(0.1)
    assert daemon.log_text().count("Redis unusable (Connection was refused") == 1
