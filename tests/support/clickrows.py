"""ClickHouse's HTTP interface in memory, for ``treq.testing.StubTreq``: counts from a dict, no SQL engine.

It answers pypipin's two queries as ClickHouse would (the latest day; the counts of the names in
``param_names``, in JSONEachRow, each row with the count of the whole result), cut after
``max_rows`` rows as the demo user's results are. The real SQL runs against chdb in
tests/support/clickhouse.py; this one is for the batching arithmetic under ``task.Clock``.
"""

import json

from twisted.web import resource, server


class RowsClickHouse(resource.Resource):
    """``counts``: name -> its row's counts; ``day``: the latest day; ``batches`` the names of each query."""

    isLeaf = True

    def __init__(self, day: str = "2026-11-30", max_rows: int = 1000) -> None:
        super().__init__()
        self.day = day
        self.max_rows = max_rows
        self.counts: dict[str, dict[str, int]] = {}
        self.latest = 0
        self.batches: list[list[str]] = []
        self.fault: int | None = None

    def render_POST(self, request: server.Request) -> bytes:
        if self.fault is not None:
            request.setResponseCode(self.fault)
            if self.fault == 429:
                return b"Code: 201. DB::Exception: Quota exceeded. (QUOTA_EXCEEDED)\n"
            return b"Code: 241. DB::Exception: Memory limit (total) exceeded. (MEMORY_LIMIT_EXCEEDED)\n"
        sql = request.content.read().decode()
        if "pypi_downloads_max_min" in sql:
            self.latest += 1
            return json.dumps({"day": self.day}).encode() + b"\n"
        names = json.loads(request.args[b"param_names"][0].decode().replace("'", '"'))
        self.batches.append(names)
        found = sorted(name for name in names if name in self.counts)
        rows = [{"project": name, **self.counts[name], "rows": len(found)} for name in found]
        return b"".join(json.dumps(row).encode() + b"\n" for row in rows[: self.max_rows])
