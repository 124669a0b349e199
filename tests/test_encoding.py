"""HTTP details in memory: gzip negotiation, weak ETag comparison, HEAD, and gzip made once per answer."""

import gzip

import pytest
from twisted.web.test.requesthelper import DummyRequest

from pypipin.badges.lifetimes import cache_control
from pypipin.badges.parsing import parse, query
from pypipin.web import response
from pypipin.web.encoding import accepts_gzip, etag_matches


@pytest.mark.parametrize(
    "header, takes",
    [
        (None, False),
        (b"", False),
        (b"gzip", True),
        (b"gzip, deflate, br", True),
        (b"br;q=1.0, GZIP;q=0.5", True),
        (b"x-gzip", True),
        (b"gzip;q=0", False),
        (b"gzip;q=0.000", False),
        (b"deflate, gzip ; q=0", False),
        (b"identity", False),
        (b"gzip;q=bogus", False),
        (b"br, notgzip", False),
    ],
)
def test_accept_encoding(header: bytes | None, takes: bool) -> None:
    assert accepts_gzip(header) is takes


@pytest.mark.parametrize(
    "header, matches",
    [
        (b'"abc"', True),
        (b'W/"abc"', True),
        (b' "x", W/"abc" ', True),
        (b"*", True),
        (b'"abd"', False),
        (b'"abc-gz"', False),
        (None, False),
        (b"", False),
        (b'W/"ab"', False),
    ],
)
def test_if_none_match_by_weak_comparison(header: bytes | None, matches: bool) -> None:
    assert etag_matches(header, b'"abc"') is matches


def request(method: bytes = b"GET", **headers: bytes) -> DummyRequest:
    found = DummyRequest([b""])
    found.method = method
    for name, value in headers.items():
        found.requestHeaders.setRawHeaders(name.replace("_", "-").encode(), [value])
    return found


def badge_response(path: bytes) -> response.Response:
    wanted = parse(path, query(b""))
    assert wanted is not None
    return response.respond(b"<svg>" + b"badge " * 200 + b"</svg>", wanted, cache_control(3600))


def test_gzip_is_made_once_never_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    answer = badge_response(b"/v/demo/badge.svg")
    assert answer.gzipped is not None and gzip.decompress(answer.gzipped) == answer.body

    def refuse(_: bytes) -> bytes:
        raise AssertionError("compressed while answering")

    monkeypatch.setattr(response, "compress", refuse)
    asked = request(accept_encoding=b"gzip, br")
    assert answer.write(asked) == answer.gzipped
    assert asked.responseHeaders.getRawHeaders(b"content-encoding") == [b"gzip"]
    assert asked.responseHeaders.getRawHeaders(b"vary") == [b"Accept-Encoding"]
    gz_etag = asked.responseHeaders.getRawHeaders(b"etag")[0]
    assert gz_etag.endswith(b'-gz"') and gz_etag != answer.etag
    plain = request()
    assert answer.write(plain) == answer.body and not plain.responseHeaders.hasHeader(b"content-encoding")
    assert plain.responseHeaders.getRawHeaders(b"etag") == [answer.etag]


def test_weak_etag_of_either_encoding_gives_304() -> None:
    answer = badge_response(b"/v/demo/badge.svg")
    for headers in (
        {"if_none_match": b"W/" + answer.etag},
        {"if_none_match": b"W/" + answer.etag[:-1] + b'-gz"', "accept_encoding": b"gzip"},
    ):
        asked = request(**headers)
        assert answer.write(asked) == b"" and asked.responseCode == 304, headers


def test_head_is_headers_only_with_the_length_of_the_body() -> None:
    answer = badge_response(b"/v/demo/badge.svg")
    asked = request(b"HEAD")
    assert answer.write(asked) == b""
    assert asked.responseHeaders.getRawHeaders(b"content-length") == [b"%d" % len(answer.body)]


def test_rasters_are_never_gzipped() -> None:
    wanted = parse(b"/v/demo/badge.png", query(b""))
    assert wanted is not None
    answer = response.respond(b"\x89PNG" + bytes(500), wanted, cache_control(3600))
    asked = request(accept_encoding=b"gzip")
    assert answer.gzipped is None and answer.write(asked) == answer.body
    assert not asked.responseHeaders.hasHeader(b"content-encoding") and not asked.responseHeaders.hasHeader(
        b"vary"
    )
