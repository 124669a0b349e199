"""ClickHouse's counts in batches, in memory: gathering windows, batch sizes, cuts, the daily refresh."""

import pytest
from treq.testing import StubTreq
from twisted.internet import defer, task

from pypipin.data.downloads import (
    BATCH,
    CHECK_SECONDS,
    LONGEST_WINDOW,
    WINDOW,
    ClickHouseCounts,
    Downloads,
    FleetBudget,
    NoRow,
    batches,
    window,
)
from pypipin.data.packages import Data
from pypipin.limits.shared import Fleet, LocalBuckets
from pypipin.store.lru import LRU
from pypipin.store.memory import MemoryStore
from pypipin.upstream.clickhouse import ClickHouse, array
from pypipin.upstream.client import RateLimited, Unavailable
from tests.support.clickrows import RowsClickHouse


def counts_of(n: int) -> dict[str, int]:
    return {"day": n, "week": 7 * n, "month": 30 * n, "total": 1000 * n}


def made(
    names: int, per_hour: float = 30, max_rows: int = 1000
) -> tuple[task.Clock, RowsClickHouse, ClickHouseCounts, MemoryStore]:
    clock = task.Clock()
    clock.advance(1_000_000)
    fake = RowsClickHouse(max_rows=max_rows)
    fake.counts = {f"pkg{n}": counts_of(n) for n in range(names)}
    store = MemoryStore(LRU(clock, 100_000, 64 << 20))
    clickhouse = ClickHouse(clock, StubTreq(fake), "http://clickhouse.test/?user=demo", timeout=5)
    return (
        clock,
        fake,
        ClickHouseCounts(
            clock, store, clickhouse, FleetBudget(clock, LocalBuckets(clock), Fleet(), per_hour), 86400
        ),
        store,
    )


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
    clock, fake, counts, _ = made(40, max_rows=12)
    waiting = asked(counts, [f"pkg{n}" for n in range(40)])
    clock.advance(WINDOW)
    assert [d.result.value for d in waiting] == [counts_of(n) for n in range(40)]  # type: ignore[attr-defined]
    assert [len(batch) for batch in fake.batches] == [40, 20, 10, 10, 20, 10, 10]


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
    clock, fake, counts, _ = made(10, per_hour=2)  # the latest day, then one batch
    first = asked(counts, ["pkg1"])
    clock.advance(WINDOW)
    assert first[0].result.value == counts_of(1)  # type: ignore[attr-defined]
    second = asked(counts, ["pkg2"])
    clock.advance(LONGEST_WINDOW)
    assert second[0].result.check(RateLimited)  # type: ignore[attr-defined]
    assert len(fake.batches) == 1


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
    clock, fake, counts, _ = made(3)
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
