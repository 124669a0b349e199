"""HTTP details through a real daemon: HEAD, weak ETags, gzip for SVG, JSON and the home page."""

import gzip
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.threads import deferToThread
from twisted.web.client import Agent, readBody
from twisted.web.http_headers import Headers

from tests.support.fakepypi import FakeUpstream

pytestmark = pytest.mark.processes


async def raw(url: str, method: bytes = b"GET", **headers: bytes) -> tuple[Any, bytes]:
    """A request as sent, its answer as received: no Accept-Encoding added, nothing decoded (unlike treq)."""
    sent = Headers({name.replace("_", "-").encode(): [value] for name, value in headers.items()})
    response = await Agent(reactor).request(method, url.encode(), sent)
    return response, await readBody(response)


async def get(url: str, headers: dict[bytes, list[bytes]] | None = None) -> tuple[Any, bytes]:
    return await raw(
        url, **{name.decode().replace("-", "_"): values[0] for name, values in (headers or {}).items()}
    )


@pytest_twisted.ensureDeferred
async def test_head_cold_and_hot_is_headers_only_and_logs_nothing_odd(
    upstream: FakeUpstream, start_daemon
) -> None:
    upstream.add("demo")
    daemon = await start_daemon().drawing()
    response, body = await get(f"{daemon.url}/wheel/demo/badge.svg")
    assert response.code == 200
    for url in ("/v/demo/badge.svg", "/v/demo/badge.svg", "/wheel/demo/badge.svg", "/", "/pypi/v/demo.json"):
        response, content = await raw(daemon.url + url, b"HEAD")
        assert response.code == 200 and content == b"", url
    response, _ = await raw(f"{daemon.url}/wheel/demo/badge.svg", b"HEAD")  # from the hot path
    assert response.headers.getRawHeaders(b"content-length") == [str(len(body)).encode()]
    assert response.headers.getRawHeaders(b"content-type") == [b"image/svg+xml;charset=utf-8"]
    await deferToThread(daemon.stop)
    assert "eat it" not in daemon.log_text() and "Warning" not in daemon.log_text()


@pytest_twisted.ensureDeferred
async def test_weak_etag_gives_304(upstream: FakeUpstream, start_daemon) -> None:
    upstream.add("demo")
    daemon = await start_daemon().drawing()
    url = f"{daemon.url}/v/demo/badge.svg"
    first, _ = await get(url)
    (etag,) = first.headers.getRawHeaders(b"etag")
    for tag in (etag, b"W/" + etag, b'"other", W/' + etag):
        response, body = await get(url, headers={b"If-None-Match": [tag]})
        assert (response.code, body) == (304, b""), tag
    response, _ = await get(url, headers={b"If-None-Match": [b'W/"other"']})
    assert response.code == 200


@pytest_twisted.ensureDeferred
async def test_gzip_when_asked_for_svg_json_and_the_home_page(upstream: FakeUpstream, start_daemon) -> None:
    upstream.add("demo")
    daemon = await start_daemon().drawing()
    long_json = "/pypi/v/demo.json?label=" + "release%20" * 15  # a tiny one is not worth compressing
    for url in ("/v/demo/badge.svg", long_json, "/", "/v/demo/badge.svg"):  # the last one hot
        plain, body = await get(daemon.url + url)
        zipped, compressed = await get(daemon.url + url, headers={b"Accept-Encoding": [b"gzip, deflate, br"]})
        assert zipped.headers.getRawHeaders(b"content-encoding") == [b"gzip"], url
        assert zipped.headers.getRawHeaders(b"vary") == [b"Accept-Encoding"], url
        assert gzip.decompress(compressed) == body and len(compressed) < len(body), url
        assert not plain.headers.hasHeader(b"content-encoding")
        refused, again = await get(daemon.url + url, headers={b"Accept-Encoding": [b"gzip;q=0, br"]})
        assert again == body and not refused.headers.hasHeader(b"content-encoding"), url
    for url in ("/v/demo/badge.png", "/pypi/v/demo.json"):
        response, body = await get(daemon.url + url, headers={b"Accept-Encoding": [b"gzip"]})
        assert body[:4] in (b"\x89PNG", b'{"sc') and not response.headers.hasHeader(b"content-encoding")
