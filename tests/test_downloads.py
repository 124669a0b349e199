"""ClickHouse's counts in batches, in memory: gathering windows, batch sizes, cuts, the daily refresh."""

import pytest
from treq.testing import StubTreq
from twisted.internet import defer, task

from pypipin.data.downloads import (
    BATCH,
    CHECK_SECONDS,
    LONGEST_WINDOW,
    POLL_SECONDS,
    WINDOW,
    ClickHouseCounts,
    Downloads,
    FleetBudget,
    NoRow,
    batches,
    window,
)
from pypipin.data.packages import Data
from pypipin.limits.shared import LocalBuckets
from pypipin.metrics import Counters
from pypipin.store.lru import LRU
from pypipin.store.memory import MemoryStore
from pypipin.upstream.clickhouse import ClickHouse, array
from pypipin.upstream.client import RateLimited, Unavailable
from tests.support.clickrows import RowsClickHouse
from tests.support.deferreds import outcome, result


def counts_of(n: int) -> dict[str, int]:
    return {"day": n, "week": 7 * n, "month": 30 * n, "total": 1000 * n}


def counting(
    clock: task.Clock,
    fake: RowsClickHouse,
    store: MemoryStore,
    buckets: LocalBuckets,
    per_hour: float = 30,
    counters: Counters | None = None,
) -> ClickHouseCounts:
    """A process's counts, on the fleet's ``store`` and ``buckets``."""
    clickhouse = ClickHouse(clock, StubTreq(fake), "http://clickhouse.test/?user=demo", timeout=5)
    budget = FleetBudget(buckets, per_hour)
    return ClickHouseCounts(clock, store, clickhouse, budget, 86400, counters or Counters())


def made(
    names: int, per_hour: float = 30, max_rows: int = 1000, counters: Counters | None = None
) -> tuple[task.Clock, RowsClickHouse, ClickHouseCounts, MemoryStore]:
    clock = task.Clock()
    clock.advance(1_000_000)
    fake = RowsClickHouse(max_rows=max_rows)
    fake.counts = {f"pkg{n}": counts_of(n) for n in range(names)}
    store = MemoryStore(LRU(clock, 100_000, 64 << 20))
    return clock, fake, counting(clock, fake, store, LocalBuckets(clock), per_hour, counters), store


def asked(counts: ClickHouseCounts, names: list[str]) -> list[defer.Deferred[Data]]:
    return [defer.ensureDeferred(counts.get(name)) for name in names]


def test_batches_are_at_most_1000_names_and_keep_every_name() -> None:
    names = [f"n{i}" for i in range(2500)]
    split = batches(names)
    assert [len(batch) for batch in split] == [BATCH, BATCH, 2500 - 2 * BATCH]
    assert [name for batch in split for name in batch] == names


def test_the_window_lengthens_as_the_budget_runs_out() -> None:
    assert (window(0.0), window(0.125), window(1.0)) == (WINDOW, LONGEST_WINDOW, LONGEST_WINDOW)
    assert WINDOW < window(0.06) < LONGEST_WINDOW


def test_every_process_reads_the_fleets_spend() -> None:
    clock = task.Clock()
    buckets = LocalBuckets(clock)
    mine, theirs = FleetBudget(buckets, 30), FleetBudget(buckets, 30)
    for _ in range(3):
        assert result(theirs.admit())
    assert result(mine.spent()) == pytest.approx(3 / 30)
    clock.advance(120)  # a query an hour's 30th back
    assert result(mine.spent()) == pytest.approx(2 / 30) and result(theirs.spent()) == result(mine.spent())


def test_a_minute_of_new_names_on_four_processes_fits_the_fleets_budget() -> None:
    """The bench's 2,004 new names over 60 s, spread over 4 processes that share one store and the fleet's
    buckets: each batch turn is as long as what all of them spent asks, so the minute costs the start's
    latest day and about 20 batches (turns of 1.7, 2.3, 3 s, then 3.5 s), well within the 30 an hour."""
    clock = task.Clock()
    clock.advance(1_000_000)
    fake = RowsClickHouse()
    names = [f"pkg{n}" for n in range(2004)]
    fake.counts = {name: counts_of(n) for n, name in enumerate(names)}
    store, buckets, counters = MemoryStore(LRU(clock, 100_000, 64 << 20)), LocalBuckets(clock), Counters()
    fleet = [counting(clock, fake, store, buckets, counters=counters) for _ in range(4)]
    for process in fleet:
        process.start()  # the hourly check: one for the fleet
    waiting: list[defer.Deferred[Data]] = []
    for n, name in enumerate(names):
        waiting += asked(fleet[n % 4], [name])
        clock.advance(60 / 2004)
    for _ in range(int((LONGEST_WINDOW + 5) / POLL_SECONDS)):  # the last names' turn
        clock.advance(POLL_SECONDS)
    assert [outcome(d).value for d in waiting] == [counts_of(n) for n in range(2004)]
    assert fake.latest == 1 and 18 <= len(fake.batches) <= 21
    assert counters.clickhouse == {"ok": 1 + len(fake.batches)}
    for process in fleet:
        process.stop()


def test_an_array_parameter_is_quoted_as_clickhouse_reads_it() -> None:
    assert array(["a", "it's", "b\\c"]) == "['a','it\\'s','b\\\\c']"


def test_a_burst_of_new_names_within_a_window_shares_one_query_a_batch() -> None:
    clock, fake, counts, _ = made(2500)
    names = [f"pkg{n}" for n in range(2500)]
    waiting = asked(counts, names)
    clock.advance(WINDOW)
    found = [d.result for d in waiting]  # type: ignore[attr-defined]
    assert [data.value for data in found] == [counts_of(n) for n in range(2500)]
    assert fake.latest == 1 and [len(batch) for batch in fake.batches] == [1000, 1000, 500]
    again = asked(counts, ["pkg7"])
    assert again[0].result.value == counts_of(7) and len(fake.batches) == 3  # type: ignore[attr-defined]


def test_a_cut_result_is_asked_again_in_halves() -> None:
    counters = Counters()
    clock, fake, counts, _ = made(40, max_rows=12, counters=counters)
    waiting = asked(counts, [f"pkg{n}" for n in range(40)])
    clock.advance(WINDOW)
    assert [d.result.value for d in waiting] == [counts_of(n) for n in range(40)]  # type: ignore[attr-defined]
    assert [len(batch) for batch in fake.batches] == [40, 20, 10, 10, 20, 10, 10]
    assert counters.clickhouse == {"ok": 1 + 4, "cut": 3}  # the latest day, then the halves that fitted


def test_a_name_without_a_row_goes_to_the_next_source() -> None:
    clock, fake, counts, _ = made(3)
    missing = asked(counts, ["unknown"])[0]
    clock.advance(WINDOW)
    assert missing.result.check(NoRow)  # type: ignore[attr-defined]
    pypistats = Data({"day": 1, "week": 2, "month": 3}, 0.0)
    chain = Downloads(("clickhouse", "pypistats"), counts)
    answered = defer.ensureDeferred(chain.get("unknown", lambda: defer.succeed(pypistats)))
    assert answered.result is pypistats and len(fake.batches) == 1  # type: ignore[attr-defined]  # kept: no query


def test_over_the_budget_new_names_go_to_the_next_source() -> None:
    counters = Counters()
    clock, fake, counts, _ = made(10, per_hour=2, counters=counters)  # the latest day, then one batch
    first = asked(counts, ["pkg1"])
    clock.advance(WINDOW)
    assert first[0].result.value == counts_of(1)  # type: ignore[attr-defined]
    second = asked(counts, ["pkg2"])
    clock.advance(LONGEST_WINDOW)
    assert second[0].result.check(RateLimited)  # type: ignore[attr-defined]
    assert len(fake.batches) == 1 and counters.clickhouse == {"ok": 2, "unsent": 1}


@pytest.mark.parametrize("moved", [True, False])
def test_the_hourly_check_refreshes_every_name_asked_for_when_the_day_moved(moved: bool) -> None:
    clock, fake, counts, _ = made(2000, per_hour=60)
    names = [f"pkg{n}" for n in range(2000)]
    asked(counts, names)
    clock.advance(WINDOW)
    before = len(fake.batches)
    fake.counts = {name: counts_of(n + 1) for n, name in enumerate(names)}
    if moved:
        fake.day = "2026-12-01"
    clock.advance(CHECK_SECONDS)
    defer.ensureDeferred(counts.check())
    assert fake.latest == 2
    refreshed = [d.result.value for d in asked(counts, names)]  # type: ignore[attr-defined]
    if moved:
        assert len(fake.batches) - before == 2  # 2,000 names: 2 batches (3 queries with the day's check)
        assert refreshed == [counts_of(n + 1) for n in range(2000)]
    else:
        assert len(fake.batches) == before and refreshed == [counts_of(n) for n in range(2000)]
    defer.ensureDeferred(counts.check())  # within the hour: nobody asks again
    assert fake.latest == 2


def test_a_quota_error_is_rate_limited_and_the_waiters_are_told() -> None:
    counters = Counters()
    clock, fake, counts, _ = made(3, counters=counters)
    fake.fault = 429
    waiting = asked(counts, ["pkg1", "pkg2"])
    clock.advance(WINDOW)
    assert all(d.result.check(RateLimited) for d in waiting)  # type: ignore[attr-defined]
    for d in waiting:
        d.addErrback(lambda _: None)
    fake.fault = 500
    paused = asked(counts, ["pkg1"])[0]
    clock.advance(LONGEST_WINDOW)
    assert paused.result.check(RateLimited) and fake.latest == 0  # type: ignore[attr-defined]  # no query
    paused.addErrback(lambda _: None)
    clock.advance(600)  # the quota's pause is over
    again = asked(counts, ["pkg1"])[0]
    clock.advance(LONGEST_WINDOW)
    assert again.result.check(Unavailable) and not again.result.check(RateLimited)  # type: ignore[attr-defined]
    again.addErrback(lambda _: None)
    assert counters.clickhouse == {"quota": 1, "unsent": 1, "error": 1}
