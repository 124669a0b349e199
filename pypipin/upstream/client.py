"""The PyPI JSON, simple and Integrity APIs and pypistats, fetched with treq."""

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import quote

import treq
from treq.client import HTTPClient
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.web.client import HTTPConnectionPool

from pypipin import __version__
from pypipin.upstream import feed, summary, trust
from pypipin.upstream.http import client
from pypipin.upstream.indexes import DEFAULT, Index

USER_AGENT = f"pypipin/{__version__} (self-hosted PyPI badge service; Twisted treq)".encode()
# a validator the upstream gave (response header) -> the request header that sends it back
VALIDATORS = {"ETag": "If-None-Match", "Last-Modified": "If-Modified-Since"}
MAX_VALIDATOR = 256  # longest validator kept


class Fetched(NamedTuple):
    """An upstream answer: the summary (None when upstream said 304 Not Modified), and its validators."""

    value: dict[str, Any] | None
    validators: dict[str, str]


class NotFound(Exception):
    """Upstream says the package does not exist."""


class Unavailable(Exception):
    """Upstream is down, slow, or sent something we cannot use."""


class RateLimited(Unavailable):
    """Upstream answered 429; ``retry_after`` is in seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited for {retry_after:g} s")
        self.retry_after = retry_after


class TooLarge(Unavailable):
    """A body over the size cap."""


def connect(reactor: Any, timeout: float) -> tuple[HTTPClient, HTTPConnectionPool]:
    """An HTTP client for the upstreams: keep-alive, asking for gzip; and its pool, to close."""
    return client(reactor, 8, timeout)


def retry_after(value: bytes | None, default: float = 60.0) -> float:
    """Seconds from a ``Retry-After`` header given in seconds; an HTTP date or garbage gives ``default``."""
    try:
        return min(max(float(value or b""), 0.0), 3600.0)
    except ValueError:
        return default


async def read_body(url: str, response: Any, max_bytes: int) -> bytes:
    """The whole body; ``TooLarge`` as soon as it passes ``max_bytes``.

    treq asks for gzip and decodes it (``ContentDecoderAgent``), so what is counted is
    the decoded body: a small gzip body that inflates enormously is cut off too.
    """
    if isinstance(response.length, int) and response.length > max_bytes:
        raise TooLarge(f"{url}: {response.length} bytes")
    chunks: list[bytes] = []
    size = 0

    def collect(data: bytes) -> None:
        nonlocal size
        size += len(data)
        if size > max_bytes:
            raise TooLarge(f"{url}: over {max_bytes} bytes decoded")
        chunks.append(data)

    # read every body, error pages too, so the connection goes back to the pool
    await treq.collect(response, collect)
    return b"".join(chunks)


class Upstream:
    """The indexes (by name, as ``indexes.configured()`` gives them) and pypistats through ``http``
    (``connect()``'s client, or ``treq.testing.StubTreq`` in tests)."""

    def __init__(
        self,
        reactor: IReactorTime,
        http: HTTPClient,
        indexes: Mapping[str, Index],
        stats_url: str,
        timeout: float,
        max_bytes: int = 20 * 1024 * 1024,
        concurrency: int = 32,
    ) -> None:
        self._http = http
        self._reactor = reactor
        self._indexes = indexes
        self._stats_url = stats_url.rstrip("/")
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._slots = defer.DeferredSemaphore(concurrency)

    def pypi(
        self, name: str, validators: Mapping[str, str] | None = None, index: str = DEFAULT
    ) -> defer.Deferred[Fetched]:
        """The summary of a package's document on the index named ``index``; ``name`` is already normalised.

        ``validators`` (from an earlier ``Fetched``) make it a conditional request.
        """
        where = self._indexes[index]
        return self._get(f"{where.url}/{name}/json", summary.from_pypi, validators, where.headers)

    def simple(
        self, name: str, validators: Mapping[str, str] | None = None, index: str = DEFAULT
    ) -> defer.Deferred[Fetched]:
        """The summary of a package's PEP 691 simple document on the index named ``index``."""
        where = self._indexes[index]
        url = f"{where.url.removesuffix('/pypi')}/simple/{name}/"
        return self._get(url, trust.from_simple, validators, where.headers, trust.SIMPLE_ACCEPT)

    def integrity(
        self, file: str, validators: Mapping[str, str] | None = None, index: str = DEFAULT
    ) -> defer.Deferred[Fetched]:
        """The publisher of one file's provenance; ``file`` is ``<project>/<version>/<filename>``."""
        where = self._indexes[index]
        url = f"{where.url.removesuffix('/pypi')}/integrity/{quote(file)}/provenance"
        return self._get(url, trust.from_integrity, validators, where.headers, trust.INTEGRITY_ACCEPT)

    def stats(self, name: str, validators: Mapping[str, str] | None = None) -> defer.Deferred[Fetched]:
        """Recent download counts of a package."""
        return self._get(f"{self._stats_url}/packages/{name}/recent", summary.from_stats, validators)

    def feed(self, url: str) -> defer.Deferred[Fetched]:
        """An update feed's items (``Fetched.value["items"]``), at most ``feed.MAX_BYTES`` read."""
        return self._get(
            url,
            lambda body: {"items": feed.items(body)},
            None,
            max_bytes=feed.MAX_BYTES,
            accept=b"application/rss+xml, text/xml",
        )

    def _get(
        self,
        url: str,
        reduce: Callable[[bytes], Any],
        validators: Mapping[str, str] | None,
        credentials: Mapping[bytes, bytes] | None = None,
        accept: bytes = b"application/json",
        max_bytes: int | None = None,
    ) -> defer.Deferred[Fetched]:
        cap = max_bytes or self._max_bytes
        d = self._slots.run(
            lambda: defer.ensureDeferred(self._fetch(url, validators or {}, credentials or {}, accept, cap))
        )
        # one deadline for a free slot, connecting, the headers and the whole body
        d.addTimeout(self._timeout, self._reactor)
        d.addErrback(self._failed, url)
        # decoded past _failed: a document we cannot use is Garbled, any other error a bug, shown as one
        return d.addCallback(self._summarised, url, reduce)

    async def _fetch(
        self,
        url: str,
        validators: Mapping[str, str],
        credentials: Mapping[bytes, bytes],
        accept: bytes,
        cap: int,
    ) -> tuple[bytes | None, dict[str, str]]:
        """The body of a 200 (None for a 304) and its validators."""
        # Twisted drops Authorization on a redirect to another host: credentials reach only theirs
        headers: dict[bytes | str, bytes | str] = {b"User-Agent": USER_AGENT, b"Accept": accept}
        headers.update(credentials.items())
        headers.update(
            (VALIDATORS[name].encode(), value.encode("latin-1")) for name, value in validators.items()
        )
        response = await self._http.get(url, headers=headers)
        body = await read_body(url, response, cap)
        if response.code == 304 and validators:
            return None, dict(validators)
        if response.code == 404:
            raise NotFound(url)
        if response.code == 429:
            raise RateLimited(retry_after(response.headers.getRawHeaders(b"Retry-After", [None])[0]))
        if response.code != 200:
            raise Unavailable(f"{url}: HTTP {response.code}")
        given = {
            name: response.headers.getRawHeaders(name.encode(), [b""])[0].decode("latin-1")
            for name in VALIDATORS
        }
        return body, {name: value for name, value in given.items() if 0 < len(value) <= MAX_VALIDATOR}

    @staticmethod
    def _summarised(
        fetched: tuple[bytes | None, dict[str, str]], url: str, reduce: Callable[[bytes], Any]
    ) -> Fetched:
        """The summary ``reduce`` makes of a fetched body; Unavailable for a document we cannot use."""
        body, validators = fetched
        if body is None:  # 304: the copy we have is still the upstream's
            return Fetched(None, validators)
        try:
            value = reduce(body)
        except summary.Garbled as error:  # not JSON, or not shaped as the API promises
            raise Unavailable(f"{url}: {error}") from error
        return Fetched(value, validators)

    @staticmethod
    def _failed(failure: Any, url: str) -> Any:
        if failure.check(NotFound, Unavailable):
            return failure
        # timeouts, refused connections, dropped sockets, bad gzip: all one thing to a badge
        raise Unavailable(f"{url}: {failure.getErrorMessage()}")
