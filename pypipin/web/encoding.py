"""HTTP details of a finished answer: gzip made once and chosen per request, weak ETag matching, HEAD."""

import gzip

from twisted.web.iweb import IRequest


def compress(body: bytes) -> bytes | None:
    """``body`` gzipped (the same bytes every time: no timestamp), or None when that is no smaller."""
    found = gzip.compress(body, compresslevel=9, mtime=0)
    return found if len(found) < len(body) else None


def accepts_gzip(header: bytes | None) -> bool:
    """Whether an ``Accept-Encoding`` value takes gzip (``gzip;q=0`` refuses it, RFC 9110 12.5.3)."""
    if not header:
        return False
    header = header.lower()
    if b"gzip" not in header:
        return False
    for part in header.split(b","):
        coding, _, parameters = part.partition(b";")
        if coding.strip() in (b"gzip", b"x-gzip"):
            weight = parameters.strip()
            if not weight.startswith(b"q="):
                return True
            try:
                return float(weight[2:]) > 0
            except ValueError:
                return False
    return False


def etag_matches(header: bytes | None, etag: bytes) -> bool:
    """Whether ``If-None-Match`` names ``etag``, by weak comparison (RFC 9110 13.1.2: ``W/`` ignored)."""
    if not header:
        return False
    if header.strip() == b"*":
        return True
    opaque = etag.removeprefix(b"W/")
    return any(tag.strip().removeprefix(b"W/") == opaque for tag in header.split(b","))


def choose(request: IRequest, plain: bytes, compressed: bytes | None) -> tuple[bytes, bool]:
    """The body to send (gzipped when there is such a copy and the client takes it), and whether it is."""
    if compressed is None:
        return plain, False
    request.setHeader(b"Vary", b"Accept-Encoding")
    if accepts_gzip(request.getHeader(b"Accept-Encoding")):
        request.setHeader(b"Content-Encoding", b"gzip")
        return compressed, True
    return plain, False


def body_for(request: IRequest, body: bytes) -> bytes:
    """What a resource returns: ``body``, or for HEAD nothing but its length (so Twisted has nothing to
    eat)."""
    if request.method == b"HEAD":
        request.setHeader(b"Content-Length", b"%d" % len(body))
        return b""
    return body
