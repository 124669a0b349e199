"""Download counts from the configured sources in order: ClickHouse's in batches, pypistats' one by one.

ClickHouse answers for up to ``BATCH`` packages a query. The fleet keeps, in the store, which
packages' counts were asked for in the last ``ASKED_DAYS`` days; once an hour one daemon asks
for the data's latest day, and when it moved, that daemon refreshes them all in batches. A
package asked for the first time joins a batch gathered for ``WINDOW`` seconds by the whole fleet
(a fleet's batch at most every ``window()`` seconds: longer while the query budget runs low), so a
burst of new names shares one query however many processes it reaches.
"""

import json
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, Protocol, TypeVar

from twisted.internet import defer, task
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from pypipin.data import keys
from pypipin.data.packages import Data
from pypipin.limits.shared import Bucket, Buckets
from pypipin.metrics import Counters
from pypipin.store.memory import Store
from pypipin.upstream.clickhouse import ClickHouse, Cut
from pypipin.upstream.client import RateLimited, Unavailable
from pypipin.waiting import sleep

log = Logger()
T = TypeVar("T")

BATCH = 1000  # names a query (a row each at most): the demo user's 1,000 rows
WINDOW = 1.0  # seconds a process gathers new names, and the fleet's batch turn while the budget is full
LONGEST_WINDOW = 3.5  # ... the turn from an eighth of the budget spent: 30 queries last a minute of new names
CHECK_SECONDS = 3600.0  # how often the fleet asks for the data's latest day
ASKED_DAYS = 30  # a package not asked for this long is no longer refreshed
NO_ROW_SECONDS = 3600.0  # how long a name the data does not hold goes to the next source
POLL_SECONDS = 0.25  # how often a process waiting on another's batch reads the store
ASKED, DAY, CHECKED = keys.downloads(":asked"), keys.downloads(":day"), keys.downloads(":checked")
NEW, SENDING = keys.downloads(":new"), keys.downloads(":sending")  # names for the next batch, its turn


class Budget(Protocol):
    """The queries ClickHouse may be sent."""

    async def admit(self) -> bool:
        """Spend one query if one is free now; else False."""

    async def spent(self) -> float:
        """The fraction of the budget spent (0 to 1)."""


class FleetBudget:
    """A ``Budget`` of the whole fleet: ``per_hour`` queries (as many in a burst) in ``buckets``, the
    fleet's, which say how much of it is spent too."""

    def __init__(self, buckets: Buckets, per_hour: float) -> None:
        self._bucket = Bucket(keys.bucket("clickhouse"), per_hour / 3600.0, max(per_hour, 1.0))
        self._buckets = buckets

    async def admit(self) -> bool:
        return await self._buckets.admit(self._bucket)

    async def spent(self) -> float:
        return await self._buckets.spent(self._bucket)


def batches(names: Sequence[str], size: int = BATCH) -> list[Sequence[str]]:
    """``names`` in batches of at most ``size``."""
    return [names[start : start + size] for start in range(0, len(names), size)]


def window(spent: float) -> float:
    """Seconds between the fleet's batches of new names when the fraction ``spent`` of the budget is spent:
    the longest from an eighth spent on, so a steady stream of new names costs a query every
    ``LONGEST_WINDOW``."""
    return WINDOW + (LONGEST_WINDOW - WINDOW) * min(max(8 * spent, 0.0), 1.0)


class NoRow(Unavailable):
    """ClickHouse holds no counts for the package (yet)."""


class ClickHouseCounts:
    """Counts of packages from ClickHouse, kept in ``store`` for ``keep`` seconds, fetched in batches."""

    def __init__(
        self,
        clock: IReactorTime,
        store: Store,
        clickhouse: ClickHouse,
        budget: Budget,
        keep: float,
        counters: Counters,
        wait: float = 5.0,
    ) -> None:
        self._clock = clock
        self._store = store
        self._clickhouse = clickhouse
        self._budget = budget
        self._keep = keep
        self._wait = wait  # seconds a query may take
        self._waiting: dict[str, list[defer.Deferred[dict[str, int] | None]]] = {}
        self._flush: IDelayedCall | None = None
        self._checks = task.LoopingCall(lambda: defer.ensureDeferred(self.check()))
        self._checks.clock = clock
        self._counters = counters
        self._paused_until = 0.0  # a quota error's pause

    def start(self) -> None:
        """Check for a new day now and every ``CHECK_SECONDS``."""
        self._checks.start(CHECK_SECONDS, now=True).addErrback(lambda f: log.failure("Downloads check", f))

    def stop(self) -> None:
        if self._checks.running:
            self._checks.stop()

    async def get(self, name: str) -> Data:
        """The counts of ``name``; NoRow, RateLimited or Unavailable when ClickHouse cannot give them."""
        now = self._clock.seconds()
        await self._store.remember(ASKED, name, now)
        entry = _entry(await self._store.get(keys.downloads(name)))
        if entry is None:
            counts = await self._join(name)
            if counts is None:
                raise NoRow(name)
            return Data(counts, now + CHECK_SECONDS)
        if entry.get("v") is None:
            raise NoRow(name)
        return Data(entry["v"], max(entry["t"] + CHECK_SECONDS, now + 60))

    def _join(self, name: str) -> defer.Deferred[dict[str, int] | None]:
        """The counts of a name nothing is kept for, from the next batch of new names."""
        waiter: defer.Deferred[dict[str, int] | None] = defer.Deferred()
        self._waiting.setdefault(name, []).append(waiter)
        if self._flush is None:
            self._flush = self._clock.callLater(WINDOW, lambda: defer.ensureDeferred(self._send()))
        return waiter

    async def _send(self) -> None:
        """Hand the gathered names to the fleet's next batch, and tell every waiter what it found.

        The names go to the store's set of new names; the process that takes the fleet's batch turn
        (a lock held for a window) sends every name in it, of every process, in one batch. The others
        read the counts from the store as that batch leaves them, taking the turn themselves when it
        is free, for at most ``LONGEST_WINDOW`` and the query's ``_wait`` (then the next source).
        """
        waiting, self._waiting, self._flush = self._waiting, {}, None
        now = self._clock.seconds()
        for name in waiting:
            await self._store.remember(NEW, name, now)
        deadline = now + LONGEST_WINDOW + self._wait
        failed: Unavailable | None = None
        while waiting:
            if await self._store.add(SENDING, b"1", window(await self._budget.spent())):
                try:
                    await self.fetch(await self._store.take(NEW))
                except Unavailable as error:
                    failed = error
            for name in list(waiting):
                entry = _entry(await self._store.get(keys.downloads(name)))
                if entry is not None:
                    _tell({name: waiting.pop(name)}, entry.get("v"))
            if failed is not None or self._clock.seconds() >= deadline:
                _tell(waiting, failed or Unavailable("ClickHouse: the fleet's batch did not come"))
                return
            if waiting:
                await sleep(self._clock, POLL_SECONDS)

    async def _day(self) -> str:
        """The data's latest day as the fleet last saw it, asked for when nobody has."""
        day = await self._store.get(DAY)
        if day is not None:
            return day.decode()
        latest = await self._latest()
        await self._store.set(DAY, latest.encode(), ASKED_DAYS * 86400)
        return latest

    async def _latest(self) -> str:
        return await self._query(self._clickhouse.latest)

    async def _query(self, call: Callable[[], Awaitable[T]]) -> T:
        """One query, from the budget, counted by its outcome; none while a quota error's pause lasts."""
        now = self._clock.seconds()
        if now < self._paused_until:
            self._counters.clickhouse["unsent"] += 1
            raise RateLimited(self._paused_until - now)
        if not await self._budget.admit():
            self._counters.clickhouse["unsent"] += 1
            raise RateLimited(60)
        try:
            found = await call()
        except RateLimited as limited:
            self._counters.clickhouse["quota"] += 1
            self._paused_until = self._clock.seconds() + limited.retry_after
            raise
        except Unavailable as error:
            self._counters.clickhouse["cut" if isinstance(error, Cut) else "error"] += 1
            raise
        self._counters.clickhouse["ok"] += 1
        return found

    async def fetch(self, names: Sequence[str], day: str | None = None) -> dict[str, dict[str, int]]:
        """The counts of ``names`` (a batch a query, halved when rows were cut), each kept in the store."""
        if not names:
            return {}
        day = day or await self._day()
        found: dict[str, dict[str, int]] = {}
        for batch in batches(names):
            counts = await self._batch(day, batch)
            found.update(counts)
            await self._kept(day, batch, counts)
        return found

    async def _kept(self, day: str, names: Sequence[str], found: dict[str, dict[str, int]]) -> None:
        """Keep a batch's counts, and that the data holds none for the names it left out."""
        now = self._clock.seconds()
        for name in names:
            entry = {"t": now, "day": day, "v": found.get(name)}
            await self._store.set(
                keys.downloads(name),
                json.dumps(entry).encode(),
                self._keep if name in found else NO_ROW_SECONDS,
            )

    async def _batch(self, day: str, names: Sequence[str]) -> dict[str, dict[str, int]]:
        try:
            return await self._query(partial(self._clickhouse.counts, day, names))
        except Cut:
            if len(names) < 2:
                raise
            half = len(names) // 2
            return {**await self._batch(day, names[:half]), **await self._batch(day, names[half:])}

    async def check(self) -> None:
        """Once an hour for the fleet: when the data's latest day moved, refresh every package asked for."""
        if not await self._store.add(CHECKED, b"1", CHECK_SECONDS * 0.9):
            return
        seen = await self._store.get(DAY)
        try:
            day = await self._latest()
        except Unavailable as error:
            log.warn("ClickHouse's latest day unknown: {error}", error=error)
            return
        if seen is not None and seen.decode() >= day:
            return
        asked = await self._store.recall(ASKED, self._clock.seconds() - ASKED_DAYS * 86400)
        try:
            await self.fetch(asked, day)
        except Unavailable as error:  # the next check tries again
            log.warn("Refreshing {count} download counts: {error}", count=len(asked), error=error)
            return
        await self._store.set(DAY, day.encode(), ASKED_DAYS * 86400)


def _entry(raw: bytes | None) -> dict[str, Any] | None:
    """A kept entry, ``{"t": stamp, "day": day, "v": counts or None}``; a corrupt one is none."""
    try:
        entry = json.loads(raw) if raw else None
    except ValueError:
        return None
    return entry if isinstance(entry, dict) and isinstance(entry.get("t"), (int, float)) else None


def _tell(waiting: dict[str, list[defer.Deferred[Any]]], result: Any) -> None:
    """Fire every waiter of ``waiting`` with ``result`` (an error: errback)."""
    for waiters in waiting.values():
        for waiter in waiters:
            if isinstance(result, Exception):
                waiter.errback(result)
            else:
                waiter.callback(result)


class Downloads:
    """Counts from the sources in ``order`` (``clickhouse``, ``pypistats``): the first that answers."""

    def __init__(self, order: Sequence[str], clickhouse: ClickHouseCounts | None) -> None:
        self._order = order
        self._clickhouse = clickhouse

    async def get(self, name: str, pypistats: Callable[[], Awaitable[Data]]) -> Data:
        """The counts of ``name``: the last source's error when none answers."""
        error: Exception = Unavailable("no downloads source")
        for source in self._order:
            try:
                if source == "clickhouse" and self._clickhouse is not None:
                    return await self._clickhouse.get(name)
                if source == "pypistats":
                    return await pypistats()
            except Unavailable as failed:
                error = failed
        raise error
