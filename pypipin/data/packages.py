"""Package data: cached summaries and download counts, fresh, stale or fetched once."""

import json
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from pypipin.badges.lifetimes import NOT_FOUND_TTL
from pypipin.data import keys
from pypipin.data.failures import FailureLog
from pypipin.data.feed import STALE
from pypipin.data.singleflight import SingleFlight, across_processes
from pypipin.limits.bucket import Gate
from pypipin.limits.budgets import Account, OverBudget
from pypipin.limits.shared import Bucket, Buckets, LocalBuckets
from pypipin.metrics import Counters
from pypipin.store.memory import Store, store_layer
from pypipin.upstream.client import VALIDATORS, Fetched, NotFound, RateLimited, Unavailable
from pypipin.waiting import sleep

log = Logger()


class Followed(Protocol):
    """A source whose update feed is followed (``data.feed.Follower``)."""

    def ttl(self, fetched_at: float) -> float:
        """Seconds a document fetched at ``fetched_at`` stays fresh."""


@dataclass(frozen=True)
class Data:
    value: dict[str, Any]
    fresh_until: float
    stale: bool = False


def _decode_entry(raw: bytes | None) -> dict[str, Any] | None:
    """A cache entry, or None for a miss; a corrupt or foreign value is a miss too."""
    if raw is None:
        return None
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("t"), (int, float)):
        return None
    if entry.get("missing") is not True and not isinstance(entry.get("v"), dict):
        return None
    validators = entry.get("h", {})
    if (
        not isinstance(validators, dict)
        or not set(validators) <= set(VALIDATORS)
        or not all(isinstance(value, str) for value in validators.values())
    ):
        entry["h"] = {}
    return entry


class Packages:
    """Summaries (``pypi``) and download counts (``stats``) of packages, by normal name.

    Each answer is kept for ``stale_ttl`` and is fresh for its source's TTL. A
    refresh is one upstream call however many requests want it: one per process
    (single-flight) and one across the daemons sharing the store (a short lock
    that the others wait on). When upstream fails, or a gate holds the call back,
    the stale copy is served. The upstream's validators (ETag, Last-Modified) are
    kept with the answer, so a refresh is a conditional request, and a 304 renews
    the copy without fetching or decoding the document again. Each gate's tokens are in
    ``buckets`` (the fleet's; default: this process's).
    """

    def __init__(
        self,
        clock: IReactorTime,
        store: Store,
        fetchers: dict[str, Callable[[str, Mapping[str, str]], defer.Deferred[Fetched]]],
        ttls: dict[str, float],
        stale_ttl: float,
        gates: dict[str, Gate],
        counters: Counters,
        max_wait: float,
        followed: Mapping[str, Followed] | None = None,
        buckets: Buckets | None = None,
    ) -> None:
        self._clock = clock
        self._store = store
        self._fetchers = fetchers
        self._ttls = ttls
        self._stale_ttl = stale_ttl
        self._gates = gates
        self._counters = counters
        self._max_wait = max_wait
        self._followed = followed or {}
        self._buckets: Buckets = buckets or LocalBuckets(clock)
        self._flights = SingleFlight()
        self._logged = FailureLog(clock)

    def _fresh(self, entry: dict[str, Any] | None, source: str) -> Data | None:
        """The entry's data while it is fresh; a fresh not-found marker raises NotFound."""
        if entry is None:
            return None
        now = self._clock.seconds()
        if entry.get("missing"):
            if now < entry["t"] + NOT_FOUND_TTL:
                raise NotFound()
            return None
        fresh_until = entry["t"] + self._ttl(source, entry)
        if now < fresh_until:
            return Data(entry["v"], fresh_until)
        return None

    def _ttl(self, source: str, entry: dict[str, Any]) -> float:
        """Seconds an entry stays fresh: none once a feed marked it stale, else its source's TTL, or what
        the source's feed allows."""
        if entry.get(STALE):
            return 0.0
        followed = self._followed.get(source)
        return followed.ttl(entry["t"]) if followed is not None else self._ttls[source]

    async def get(
        self,
        source: str,
        name: str,
        reached: Callable[[str], None] | None = None,
        account: Account | None = None,
    ) -> Data:
        """The data, fresh or stale; ``reached`` is told the cache layers it needed (``miss`` when not fresh
        in the store).

        An upstream call started for it is paid from ``account`` (a client's names budget): one
        unit for the call, whatever it brings, and one more when upstream says the name does
        not exist. Joining a call already under way is free. Over budget (OverBudget), the
        stale copy is served if there is one.
        """
        key = keys.package(source, name)
        entry = _decode_entry(await self._store.get(key))
        if reached is not None:
            reached(store_layer(self._store))
        fresh = self._fresh(entry, source)
        self._counters.cache["store", "hit" if fresh else "miss"] += 1
        if fresh is not None:
            return fresh
        if reached is not None:
            reached("miss")
        stale = entry if entry is not None and not entry.get("missing") else None
        try:
            return await self._paid(key, lambda: self._refresh(source, name, key, stale, account), account)
        except OverBudget:  # one client's budget is no upstream event: not logged
            if stale is None:
                raise
            return self._stale(source, stale)
        except Unavailable as error:
            if stale is None:
                raise
            log.warn("Serving stale {source} data for {name}: {error}", source=source, name=name, error=error)
            return self._stale(source, stale)

    def _stale(self, source: str, entry: dict[str, Any]) -> Data:
        """The data of a cache ``entry`` no longer fresh, served as it is."""
        self._counters.upstream[source, "stale"] += 1
        return Data(entry["v"], self._clock.seconds(), stale=True)

    async def _paid(
        self, key: str, refresh: Callable[[], Coroutine[Any, Any, Data]], account: Account | None
    ) -> Data:
        """The one refresh of ``key`` under way, or a new one paid from ``account``."""
        if account is None or key in self._flights:
            return await self._flights.run(key, refresh)
        await account.spend()
        try:
            return await self._flights.run(key, refresh)
        except NotFound:
            await account.charge()  # a made-up name costs a unit more than a real one
            raise

    async def _refresh(
        self, source: str, name: str, key: str, stale: dict[str, Any] | None, account: Account | None
    ) -> Data:
        async def read() -> Data | None:
            return self._fresh(_decode_entry(await self._store.get(key)), source)

        async def fetch() -> Data:
            await self._admit(source, stale is not None, account)
            return await self._fetch(source, name, key, stale)

        return await across_processes(self._store, self._clock, key, read, fetch, self._max_wait + 1)

    async def _admit(self, source: str, have_stale: bool, account: Account | None) -> None:
        """Return when the gate lets a call through; raise when it will not soon enough.

        The gate's rate is the fleet's (``buckets``, shared through Redis); its pauses (a 429's
        Retry-After) are this daemon's. The call is also drawn from ``account``'s client's part of the
        gate (a fraction of its rate and burst), in the same atomic check, and the more of that part
        the client spent, the more it leaves in the gate for others: one client cannot hold back the
        first call for another's new name.
        """
        gate = self._gates[source]
        paused = gate.paused_for()
        # while upstream asks us to pause, a stale copy is served; a name with nothing cached
        # may still send the odd probe, so new packages answer as soon as upstream does
        if paused and (have_stale or not gate.probe()):
            raise RateLimited(paused)
        if gate.rate is None:  # no limit
            return
        shared = Bucket(keys.bucket(f"upstream {source}"), gate.rate, gate.burst)  # the fleet's calls
        share = account.share(source, shared) if account is not None else None
        deadline = self._clock.seconds() + self._max_wait
        while True:
            wait, all_wait = await self._buckets.claim(share, shared)
            if not wait:
                return
            self._counters.upstream[source, "waited"] += 1
            if have_stale or self._clock.seconds() + wait > deadline:
                if all_wait < wait:  # held back by this client's own use, not by all of it
                    raise OverBudget("upstream")
                raise Unavailable(f"{source}: held back by our own rate limit")
            await sleep(self._clock, wait)

    def _log_failure(self, source: str, name: str, error: Exception) -> None:
        """One line per source and cause a minute, counting the packages that failed since the last."""
        self._logged.failed(source, name, error)

    async def _fetch(self, source: str, name: str, key: str, stale: dict[str, Any] | None) -> Data:
        now = self._clock.seconds()
        try:
            try:
                fetched = await self._fetchers[source](name, stale["h"] if stale else {})
            finally:
                self._counters.upstream_took(source, self._clock.seconds() - now)
        except NotFound:
            self._gates[source].resume()
            self._counters.upstream[source, "not_found"] += 1
            await self._store.set(key, json.dumps({"t": now, "missing": True}).encode(), NOT_FOUND_TTL)
            raise
        except RateLimited as limited:
            self._counters.upstream[source, "rate_limited"] += 1
            self._gates[source].pause(limited.retry_after)
            self._log_failure(source, name, limited)
            raise
        except Unavailable as error:
            self._counters.upstream[source, "error"] += 1
            self._log_failure(source, name, error)
            raise
        self._gates[source].resume()
        if fetched.value is None:  # 304: the copy we have is still the upstream's
            assert stale is not None
            self._counters.upstream[source, "not_modified"] += 1
            value = stale["v"]
        else:
            self._counters.upstream[source, "ok"] += 1
            value = fetched.value
        self._counters.last_ok[source] = now
        entry = {"t": now, "v": value, "h": fetched.validators}
        await self._store.set(key, json.dumps(entry).encode(), self._stale_ttl)
        return Data(value, now + self._ttl(source, entry))
