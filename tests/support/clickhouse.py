"""A stand-in for ClickHouse's HTTP interface as ClickPy's public endpoint serves it, running the SQL in chdb.

The subset pypipin uses: the SQL as the POST body, ``param_<name>`` values for its ``{name:Type}``
placeholders, ``default_format`` and ``user`` in the query string, ``Code: N. DB::Exception`` error
bodies, and the demo user's limits: ``QUERIES_AN_HOUR`` a client address, ``MAX_ROWS`` rows a result
(the rest cut off silently). The tables are made with ClickPy's schema (scripts/create_tables.sh of
ClickHouse/clickpy) and filled with generated rows: several installers, mirrors among them, over months.
"""

import datetime
import random
from collections import Counter, defaultdict, deque
from collections.abc import Iterable
from typing import Any

from chdb import session
from twisted.internet import reactor as default_reactor
from twisted.web import resource, server

QUERIES_AN_HOUR = 60
MAX_ROWS = 1000
INSTALLERS = ("pip", "uv", "poetry", "requests", "bandersnatch", "z3c.pypimirror", "Artifactory", "devpi")
MIRRORS = frozenset({"bandersnatch", "z3c.pypimirror", "Artifactory", "devpi"})

# ClickPy's tables pypipin reads, as scripts/create_tables.sh creates them
SCHEMA = (
    "CREATE DATABASE IF NOT EXISTS pypi",
    """CREATE TABLE pypi.pypi_downloads (`project` String, `count` Int64)
    ENGINE = SummingMergeTree ORDER BY project""",
    """CREATE TABLE pypi.pypi_downloads_per_day (`date` Date, `project` String, `count` Int64)
    ENGINE = SummingMergeTree ORDER BY (project, date)""",
    """CREATE TABLE pypi.pypi_downloads_per_day_by_version_by_installer_by_type (
        `project` String, `version` String, `date` Date, `installer` String,
        `type` LowCardinality(String), `count` Int64)
    ENGINE = SummingMergeTree ORDER BY (project, version, date, installer)""",
    """CREATE TABLE pypi.pypi_downloads_max_min (`project` String,
        `max_date` SimpleAggregateFunction(max, Date), `min_date` SimpleAggregateFunction(min, Date))
    ENGINE = AggregatingMergeTree ORDER BY project""",
)


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Dataset:
    """ClickPy's tables in an in-process chdb, and the counts pypistats would give, computed apart."""

    def __init__(self) -> None:
        self.db = session.Session()
        for statement in SCHEMA:
            self.db.query(statement)
        self.last: datetime.date | None = None
        # (project, date) -> installer -> count: what the expected answers are computed from
        self.rows: dict[tuple[str, datetime.date], Counter[str]] = defaultdict(Counter)

    def fill(self, names: Iterable[str], last: datetime.date, days: int = 90, seed: int = 1) -> None:
        """Rows for ``names`` on the ``days`` days ending on ``last``: every installer, two versions."""
        chance = random.Random(seed)
        detailed: list[str] = []
        for name in names:
            for back in range(days):
                day = last - datetime.timedelta(days=back)
                for installer in chance.sample(INSTALLERS, 4):
                    count = chance.randrange(1, 1000)
                    self.rows[name, day][installer] += count
                    version = chance.choice(("1.0", "2.0"))
                    detailed.append(
                        f"({_quoted(name)},'{version}','{day}',{_quoted(installer)},'bdist_wheel',{count})"
                    )
        self._insert(detailed, last)

    def day(self, last: datetime.date, names: Iterable[str], seed: int = 2) -> None:
        """One more day of rows, ``last``, for ``names``: the data's next day."""
        self.fill(names, last, days=1, seed=seed)

    def _insert(self, detailed: list[str], last: datetime.date) -> None:
        table = "pypi.pypi_downloads_per_day_by_version_by_installer_by_type"
        for start in range(0, len(detailed), 20_000):
            self.db.query(f"INSERT INTO {table} VALUES " + ",".join(detailed[start : start + 20_000]))
        # the other tables are ClickPy's materialized views of one source table: made the same way here
        self.db.query("TRUNCATE TABLE pypi.pypi_downloads")
        self.db.query("TRUNCATE TABLE pypi.pypi_downloads_per_day")
        self.db.query("TRUNCATE TABLE pypi.pypi_downloads_max_min")
        self.db.query(
            f"INSERT INTO pypi.pypi_downloads SELECT project, sum(count) FROM {table} GROUP BY project"
        )
        self.db.query(
            "INSERT INTO pypi.pypi_downloads_per_day "
            f"SELECT date, project, sum(count) FROM {table} GROUP BY date, project"
        )
        self.db.query(
            "INSERT INTO pypi.pypi_downloads_max_min "
            f"SELECT project, max(date), min(date) FROM {table} GROUP BY project"
        )
        self.last = max(self.last or last, last)

    def expected(self, name: str) -> dict[str, int]:
        """What pypistats says of ``name`` (mirrors left out) on the latest day, and the all-time total."""
        assert self.last is not None
        sums = Counter[str]()
        for (project, day), installers in self.rows.items():
            if project != name:
                continue
            sums["total"] += sum(installers.values())
            counted = sum(count for installer, count in installers.items() if installer not in MIRRORS)
            age = (self.last - day).days
            for period, days in (("day", 1), ("week", 7), ("month", 30)):
                if 0 <= age < days:
                    sums[period] += counted
        return {period: sums[period] for period in ("day", "week", "month", "total")}


class FakeClickHouse(resource.Resource):
    """ClickHouse's HTTP interface over ``dataset``, with the demo user's limits.

    ``fault``: ``"500"`` (a DB::Exception with a 500), ``"exception"`` (an exception inside a 200
    body, after a row), ``"quota"``, ``"garbage"``, ``"stall"`` (never answers), or None.
    ``queries`` counts the queries run (limits and faults aside), ``names`` the package names asked for.
    """

    isLeaf = True

    def __init__(self, dataset: Dataset, clock: Any = default_reactor) -> None:
        super().__init__()
        self.dataset = dataset
        self.clock = clock
        self.fault: str | None = None
        self.queries = 0
        self.refused = 0
        self.asked: Counter[str] = Counter()
        self._sent: dict[str, deque[float]] = defaultdict(deque)
        self.hung: list[server.Request] = []

    def render_POST(self, request: server.Request) -> bytes | int:
        request.setHeader(b"Content-Type", b"text/plain; charset=UTF-8")
        args = {key.decode(): values[0].decode() for key, values in request.args.items()}
        if args.get("user") != "demo":
            return self._error(
                request, 516, "Code: 516. DB::Exception: demo: Authentication failed. (AUTHENTICATION_FAILED)"
            )
        if self.fault == "stall":
            self.hung.append(request)
            return server.NOT_DONE_YET
        if self.fault == "500":
            return self._error(
                request,
                500,
                "Code: 241. DB::Exception: Memory limit (total) exceeded. (MEMORY_LIMIT_EXCEEDED)",
            )
        if self.fault == "garbage":
            return b"<html>\x00\xff not rows"
        if self.fault == "quota" or not self._admitted(request.getClientAddress().host):
            self.refused += 1
            return self._error(
                request,
                429,
                "Code: 201. DB::Exception: Quota for user `demo` for 3600s has been exceeded: "
                f"queries = {QUERIES_AN_HOUR + 1}/{QUERIES_AN_HOUR}. (QUOTA_EXCEEDED)",
            )
        params = {key[len("param_") :]: value for key, value in args.items() if key.startswith("param_")}
        sql = request.content.read().decode()
        self.queries += 1
        if "names" in params:
            self.asked.update(
                self.dataset.db.query(
                    "SELECT arrayJoin({n:Array(String)})", "TabSeparated", params={"n": params["names"]}
                )
                .bytes()
                .decode()
                .split()
            )
        try:
            result = self.dataset.db.query(sql, args.get("default_format", "TabSeparated"), params=params)
        except Exception as error:  # chdb's error is ClickHouse's own text, Code: N. DB::Exception: ...
            return self._error(request, 400, str(error))
        lines = result.bytes().splitlines(keepends=True)[:MAX_ROWS]  # the demo user's cut: no word of it
        if self.fault == "exception":
            return (
                b"".join(lines[:1])
                + b"Code: 159. DB::Exception: Timeout exceeded: elapsed 60 seconds. (TIMEOUT_EXCEEDED)\n"
            )
        return b"".join(lines)

    def _admitted(self, address: str) -> bool:
        """The demo quota: ``QUERIES_AN_HOUR`` a client address in any hour."""
        now = self.clock.seconds()
        sent = self._sent[address]
        while sent and sent[0] <= now - 3600:
            sent.popleft()
        if len(sent) >= QUERIES_AN_HOUR:
            return False
        sent.append(now)
        return True

    @staticmethod
    def _error(request: server.Request, code: int, text: str) -> bytes:
        request.setResponseCode(code)
        request.setHeader(
            b"X-ClickHouse-Exception-Code", text.partition("Code: ")[2].partition(".")[0].encode()
        )
        return text.encode() + b"\n"

    def release_hung(self) -> None:
        for request in self.hung:
            if not request._disconnected:
                request.finish()
        self.hung.clear()
