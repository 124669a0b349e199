"""ClickHouse's SQL interface over HTTP, on ClickPy's schema (database ``pypi``): counts, a batch a query.

The SQL goes as the POST body, its values as ``{name:Type}`` placeholders with ``param_<name>`` URL
parameters, the rows come back as JSONEachRow. ClickHouse's own errors (``Code: N. DB::Exception``)
come with a 4xx/5xx, or inside a 200 body when a query fails after its first rows; a result cut
short (the demo user's 1,000 rows) is seen by the count of the whole result that every row carries.
"""

from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec
from treq.client import HTTPClient
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime

from pypipin.upstream.client import USER_AGENT, RateLimited, Unavailable, read_body, retry_after

PUBLIC = "https://sql-clickhouse.clickhouse.com/?user=demo"
# installers that mirror PyPI rather than install from it: pypistats leaves them out, so do we
MIRRORS = ("bandersnatch", "z3c.pypimirror", "Artifactory", "devpi")
QUOTA_CODES = (201, 202)  # QUOTA_EXCEEDED, TOO_MANY_SIMULTANEOUS_QUERIES
QUOTA_PAUSE = 600.0  # seconds without a query after a quota error that gave no Retry-After

LATEST = "SELECT toString(max(max_date)) AS day FROM pypi.pypi_downloads_max_min"
COUNTS = """
SELECT project, day, week, month, total, count() OVER () AS rows FROM (
  SELECT t.project AS project, r.day AS day, r.week AS week, r.month AS month, t.total AS total
  FROM (
    SELECT project, sum(count) AS total FROM pypi.pypi_downloads
    WHERE project IN {names:Array(String)} GROUP BY project
  ) AS t
  LEFT JOIN (
    SELECT project,
      sumIf(count, date = {day:Date}) AS day,
      sumIf(count, date > {day:Date} - 7) AS week,
      sum(count) AS month
    FROM pypi.pypi_downloads_per_day_by_version_by_installer_by_type
    WHERE project IN {names:Array(String)} AND date > {day:Date} - 30 AND date <= {day:Date}
      AND installer NOT IN {mirrors:Array(String)}
    GROUP BY project
  ) AS r ON r.project = t.project
) ORDER BY project
"""


class Cut(Unavailable):
    """The result was cut short (a row limit): ask again for fewer names."""


class Latest(msgspec.Struct):
    day: str


class Row(msgspec.Struct, gc=False):
    project: str
    day: int
    week: int
    month: int
    total: int
    rows: int  # of the whole result: more than came back, the rows were cut


# Int64 comes quoted unless the server is told otherwise: lax decoding takes both
_LATEST = msgspec.json.Decoder(Latest, strict=False)
_ROW = msgspec.json.Decoder(Row, strict=False)


def array(values: Sequence[str]) -> str:
    """An ``Array(String)`` parameter's text."""
    quoted = (value.replace("\\", "\\\\").replace("'", "\\'") for value in values)
    return "[" + ",".join(f"'{value}'" for value in quoted) + "]"


def _failure(code: int, body: bytes, header: bytes | None) -> Unavailable:
    """What a ClickHouse error says: a quota spent is RateLimited, any other Unavailable."""
    text = body[:300].decode("utf-8", "replace").strip()
    number = text.partition("Code: ")[2].partition(".")[0]
    if code == 429 or (number.isdigit() and int(number) in QUOTA_CODES):
        return RateLimited(retry_after(header, QUOTA_PAUSE))
    return Unavailable(f"ClickHouse: HTTP {code}: {text or 'no body'}")


class ClickHouse:
    """ClickHouse at ``url`` (its user and settings in the query string) through ``http``."""

    def __init__(
        self, reactor: IReactorTime, http: HTTPClient, url: str, timeout: float, max_bytes: int = 4 << 20
    ) -> None:
        self._reactor = reactor
        self._http = http
        parts = urlsplit(url)
        self._base = parts
        self._query = [*parse_qsl(parts.query), ("default_format", "JSONEachRow")]
        self._timeout = timeout
        self._max_bytes = max_bytes

    async def latest(self) -> str:
        """The latest day in the data, ``YYYY-MM-DD``."""
        lines = await self._rows(LATEST, {}, 2)
        try:
            day = _LATEST.decode(lines[0]).day
        except (msgspec.DecodeError, IndexError) as error:
            raise Unavailable(f"ClickHouse: latest day: {error}") from error
        if len(day) != 10 or day < "2000-01-01":
            raise Unavailable(f"ClickHouse: no latest day ({day!r})")
        return day

    async def counts(self, day: str, names: Sequence[str]) -> dict[str, dict[str, int]]:
        """Downloads of ``names`` on ``day``, the 7 and the 30 days ending on it, and in all; a name the
        data does not hold is left out. Cut when the rows came back cut short."""
        params = {"names": array(names), "day": day, "mirrors": array(MIRRORS)}
        lines = await self._rows(COUNTS, params, len(names))
        try:
            rows = [_ROW.decode(line) for line in lines]
        except msgspec.DecodeError as error:
            raise Unavailable(f"ClickHouse: {error}") from error
        if rows and len(rows) < rows[0].rows:
            raise Cut(f"ClickHouse: {len(rows)} rows for {len(names)} names, cut short")
        wanted = set(names)
        return {
            row.project: {
                "day": max(row.day, 0),
                "week": max(row.week, 0),
                "month": max(row.month, 0),
                "total": max(row.total, 0),
            }
            for row in rows
            if row.project in wanted
        }

    def _rows(self, sql: str, params: dict[str, str], most: int) -> defer.Deferred[list[bytes]]:
        d = defer.ensureDeferred(self._post(sql, params, most))
        d.addTimeout(self._timeout, self._reactor)
        return d.addErrback(self._failed)

    async def _post(self, sql: str, params: dict[str, str], most: int) -> list[bytes]:
        """The result's lines (at most ``most``); Unavailable for anything but rows."""
        query = urlencode([*self._query, *((f"param_{name}", value) for name, value in params.items())])
        url = urlunsplit(self._base._replace(query=query))
        headers: dict[bytes | str, bytes | str] = {b"User-Agent": USER_AGENT, b"Content-Type": b"text/plain"}
        response: Any = await self._http.post(url, data=sql.encode(), headers=headers)
        body = await read_body(url, response, self._max_bytes)
        header = response.headers.getRawHeaders(b"Retry-After", [None])[0]
        if response.code != 200:
            raise _failure(response.code, body, header)
        if response.headers.hasHeader(b"X-ClickHouse-Exception-Code") or b"DB::Exception" in body:
            raise _failure(500, body[body.find(b"Code: ") :] if b"Code: " in body else body, header)
        lines = body.splitlines()
        if len(lines) > most:
            raise Unavailable(f"ClickHouse: {len(lines)} rows, more than the {most} asked for")
        return lines

    @staticmethod
    def _failed(failure: Any) -> Any:
        if failure.check(Unavailable):
            return failure
        raise Unavailable(f"ClickHouse: {failure.getErrorMessage()}")
