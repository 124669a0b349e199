"""Downloads: ClickHouse's batches against pypistats, on the ClickHouse double with the demo limits enforced.

Two daemons of two workers each on one Redis, ``--downloads-source clickhouse,pypistats``, the
ClickHouse double (tests/support/clickhouse.py: ClickPy's schema in chdb, 60 queries an hour, 1,000
rows a query) and the fake pypistats. ``--packages`` new packages are asked for over ``--seconds``,
spread over the daemons; each first badge is timed and checked against the data. Then the data
gains a day and one hourly check refreshes them all. Targets (issue 20): at most 40 queries for
2,000 packages over 60 s, each badge right within 5 s, none ``rate limited``/``unavailable``;
the next day at most 3 queries (and the latest day's).
"""

import argparse
import datetime
import json
import os
import time

import treq
from twisted.internet import defer, task
from twisted.web.server import Site

from pypipin.badges.rules import metric
from pypipin.data.downloads import BATCH
from pypipin.data.keys import bucket, downloads
from scripts.benchkit import Daemon, FakeUpstreamProcess, RedisServer
from tests.support.clickhouse import Dataset, FakeClickHouse

LAST = datetime.date(2026, 11, 30)
WORKERS = 2  # a daemon's: 4 processes share the fleet's batches and budget


async def first_badge(url: str, expected: str) -> tuple[float, str, bool]:
    started = time.monotonic()
    response = await treq.get(url)
    message = json.loads(await response.content())["message"]
    return time.monotonic() - started, message, message == expected


def messages(dataset: Dataset, names: list[str]) -> list[str]:
    """The month badge each of ``names`` should show, worked out before the requests: each is a pass over
    every row, too slow for the 30 ms between two new names."""
    return [f"{metric(dataset.expected(name)['month'])}/month" for name in names]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


async def main(reactor, args: argparse.Namespace) -> None:
    count, rate = args.packages, args.packages / args.seconds
    names = [f"pkg{n}" for n in range(count)]
    dataset = Dataset()
    dataset.fill(names, LAST, days=35)
    fake = FakeClickHouse(dataset)
    port = reactor.listenTCP(0, Site(fake), interface="127.0.0.1")
    url = f"http://127.0.0.1:{port.getHost().port}/?user=demo"
    redis = RedisServer()
    upstream = FakeUpstreamProcess(count)
    options = (
        "--downloads-source",
        "clickhouse,pypistats",
        "--clickhouse-url",
        url,
        "--client-names",
        "1000000",
    )
    daemons = [Daemon(upstream.url, redis.url, *options, workers=WORKERS) for _ in range(2)]
    try:
        for daemon in daemons:
            await daemon.drawing()
        await task.deferLater(reactor, 1.0, lambda: None)
        checks = fake.queries
        expected = messages(dataset, names)
        firsts: list[defer.Deferred[tuple[float, str, bool]]] = []
        started = reactor.seconds()
        for n, name in enumerate(names):
            daemon = daemons[n % len(daemons)]
            url = f"{daemon.url}/pypi/dm/{name}.json"
            firsts.append(defer.ensureDeferred(first_badge(url, expected[n])))
            # on a schedule, so a late turn of the reactor (chdb runs in it) does not stretch the minute
            await task.deferLater(
                reactor, max(0.0, started + (n + 1) / rate - reactor.seconds()), lambda: None
            )
        sent = reactor.seconds() - started
        results = await defer.gatherResults(firsts)
        new_queries = fake.queries - checks
        latencies = [took for took, _, _ in results]
        wrong = sum(not right for _, _, right in results)
        refused = sum(message in ("rate limited", "unavailable") for _, message, _ in results)
        dataset.day(LAST + datetime.timedelta(days=1), names)
        redis.command("DEL", downloads(":checked"))  # as if the hour were over
        redis.command("DEL", bucket("clickhouse"))  # and the day: the query budget full again
        before = fake.queries
        third = Daemon(upstream.url, redis.url, *options, workers=WORKERS)  # its start: the hourly check
        daemons.append(third)
        await third.drawing()
        await task.deferLater(reactor, 5.0, lambda: None)
        refresh_queries = fake.queries - before
        expected = messages(dataset, names)
        updated = await defer.gatherResults(
            [
                defer.ensureDeferred(first_badge(f"{third.url}/pypi/dm/{name}.json", message))
                for name, message in zip(names, expected, strict=True)
            ]
        )
        stale = sum(not right for _, _, right in updated)
    finally:
        for daemon in daemons:
            daemon.stop()
        upstream.stop()
        redis.stop()
        await port.stopListening()
    per_hour, p50, p99 = 30, percentile(latencies, 0.5), percentile(latencies, 0.99)
    rows = [
        (
            "packages an hour under the limits",
            f"{per_hour * BATCH:,} ({per_hour}/h x {BATCH})",
            "1,200 a daemon",
        ),
        ("queries per 1,000 new packages", f"{1000 * new_queries / count:.1f} ({new_queries})", "1,000"),
        (
            "queries per 1,000, the next day",
            f"{1000 * refresh_queries / count:.1f} ({refresh_queries})",
            "1,000",
        ),
        ("queries at the fleet's start (the latest day)", str(checks), ""),
        ("first badge p50 / p99", f"{p50:.2f} s / {p99:.2f} s", "one call each"),
        ("wrong / rate limited or unavailable", f"{wrong} / {refused}", ""),
        ("next day: badges not updated", str(stale), ""),
        ("demo quota refusals", str(fake.refused), ""),
    ]
    print(
        f"load average {os.getloadavg()[0]:.2f}; {count} new packages over {args.seconds:g} s "
        f"(sent in {sent:.1f} s), 2 daemons of {WORKERS} workers"
    )
    print()
    print("| measure | ClickHouse (batches) | pypistats |")
    print("|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--packages", type=int, default=2000, help="new packages, each asked for once")
    parser.add_argument("--seconds", type=float, default=60)
    task.react(lambda reactor: defer.ensureDeferred(main(reactor, parser.parse_args())))
