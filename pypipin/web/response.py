"""A finished badge response, written again and again: headers, ETag, 304, gzip."""

import hashlib
from dataclasses import dataclass

from twisted.web.iweb import IRequest

from pypipin.badges.formats import FORMATS
from pypipin.badges.parsing import BadgeRequest
from pypipin.web.encoding import body_for, choose, compress, etag_matches

SVG_POLICY = b"default-src 'none'; style-src 'unsafe-inline'"


@dataclass(frozen=True)
class Response:
    """A finished badge response, ready to be written again and again."""

    body: bytes
    gzipped: bytes | None  # for SVG and JSON when that is smaller, made once
    content_type: bytes
    cache_control: bytes
    etag: bytes  # of the plain body
    gz_etag: bytes  # of the gzipped body: the plain one's, ending in -gz
    kind: str  # for the metrics
    format: str
    index: str | None  # whose package it is about: the update feed drops a released one's responses
    package: str | None

    def __len__(self) -> int:
        return len(self.body) + len(self.gzipped or b"") + len(self.cache_control) + 64

    def write(self, request: IRequest) -> bytes:
        body, gzipped = choose(request, self.body, self.gzipped)
        etag = self.gz_etag if gzipped else self.etag
        request.setHeader(b"Content-Type", self.content_type)
        request.setHeader(b"Cache-Control", self.cache_control)
        request.setHeader(b"ETag", etag)
        request.setHeader(b"Access-Control-Allow-Origin", b"*")
        if self.format == "svg":  # an SVG opened on its own may run nothing and load nothing
            request.setHeader(b"Content-Security-Policy", SVG_POLICY)
        if etag_matches(request.getHeader(b"If-None-Match"), etag):
            request.setResponseCode(304)
            return b""
        return body_for(request, body)


def respond(body: bytes, wanted: BadgeRequest, caching: bytes) -> Response:
    """``caching``: the response's ``Cache-Control``."""
    digest = hashlib.sha256(body).hexdigest()[:32].encode()
    served = FORMATS[wanted.format]
    gzipped = compress(body) if served.gzipped else None
    return Response(
        body,
        gzipped,
        served.content_type.encode(),
        caching,
        b'"%s"' % digest,
        b'"%s-gz"' % digest,
        wanted.kind.name,
        wanted.format,
        wanted.index,
        wanted.package,
    )
