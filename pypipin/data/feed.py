"""Following an index's update feed: one poller per fleet, stale marks, and the fleet's mode.

Every daemon runs a ``Follower``. Each tick (a quarter of the interval) it reads the fleet's feed
state from the store, takes on its mode, and drops from its hot cache the responses of the
packages released since it last looked; and it takes or renews the lease (``Store.add``, so
one daemon holds it; it lapses half an interval after its holder stops renewing it). The holder
polls the feed every interval, marks the cached documents of the packages it lists stale (their
next request revalidates them) and writes the new state.

Why a state key read each tick, not Redis pub/sub: it works the same on the in-process store
(no Redis), a daemon that was away or restarted catches up from the key's history (a missed
message would be lost), and a tick costs one small GET; the delay it adds is at most a tick.

A document is fresh for the long TTL only when it was fetched after ``since``, the moment from
which the feed has listed every release, and while the feed is read on time; otherwise for the
short TTL. So after a failed poll, or a gap (the answer full and its oldest item newer than the last
poll), the fleet falls back; documents fetched before the gap stay on the short TTL for good.
"""

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from twisted.application.internet import TimerService
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from pypipin.data import keys
from pypipin.store.memory import Store
from pypipin.upstream.client import Fetched, Unavailable
from pypipin.upstream.feed import LIMIT, Item, with_query

log = Logger()

STALE = "s"  # the field of a cached document's entry that a release marked it stale with
STATE_TTL = 7 * 86400
HISTORY = 32  # batches of released names kept in the state, for daemons that look late
SKEW = 60.0  # seconds a document fetched after a release's pubDate may still predate it (clocks)


@dataclass
class State:
    """The fleet's feed, as the poller last wrote it."""

    mode: str = "off"  # "feed" (long TTL), "fallback" (short TTL), "off" (no feed)
    since: float | None = None  # every release since then has been listed
    read: float | None = None  # the last successful poll (its start)
    tried: float | None = None  # the last poll
    seq: int = 0
    history: list[tuple[int, list[str]]] = field(default_factory=list)


def decode(raw: bytes | None) -> State | None:
    """The state stored, None when absent or unreadable."""
    if raw is None:
        return None
    try:
        given = json.loads(raw)
        return State(
            given["mode"],
            given["since"],
            given["read"],
            given["tried"],
            int(given["seq"]),
            [(int(seq), [str(name) for name in names]) for seq, names in given["history"]],
        )
    except (ValueError, KeyError, TypeError):
        return None


def covered_from(items: list[Item], asked: float, max_age: float) -> float:
    """From when a successful answer asked at ``asked`` lists every release: the last ``max_age`` seconds,
    unless it is full or reaches further back (a feed that ignores ``max_age`` and serves a fixed
    number of items), and then from its oldest item: there may be more before it."""
    oldest = min((item.published for item in items), default=asked)
    if len(items) >= LIMIT or oldest < asked - max_age:
        return oldest
    return asked - max_age


class Follower:
    """The feed at ``url`` (already with its query), followed on behalf of index ``source``."""

    def __init__(
        self,
        clock: IReactorTime,
        store: Store,
        fetch: Callable[[str], defer.Deferred[Fetched]],
        url: str,
        source: str,
        interval: float,
        short_ttl: float,
        long_ttl: float,
        stale_ttl: float,
        drop: Callable[[Iterable[str] | None], None],
        me: str,
    ) -> None:
        self._clock = clock
        self._store = store
        self._fetch = fetch
        self.url = with_query(url, 2 * interval)
        self._source = source
        self.interval = interval
        self._short = short_ttl
        self._long = long_ttl
        self._stale_ttl = stale_ttl
        self._drop = drop
        self._me = me.encode()
        self._lease_key, self._state_key = keys.feed(source, "lease"), keys.feed(source, "state")
        self.state = State()
        self._seen: set[tuple[str, str]] = set()
        self.polls = 0

    def service(self) -> TimerService:
        """The service that ticks every quarter of the interval."""
        ticking = TimerService(self.interval / 4, lambda: defer.ensureDeferred(self.tick()))
        ticking.clock = self._clock
        return ticking

    def mode(self) -> str:
        """``feed`` while the feed is read on time (the long TTL), else ``fallback``."""
        return "feed" if self.trusts(self._clock.seconds()) else "fallback"

    def ttl(self, fetched_at: float) -> float:
        """Seconds a document fetched at ``fetched_at`` stays fresh."""
        return self._long if self.trusts(fetched_at) else self._short

    def trusts(self, fetched_at: float) -> bool:
        """True when the feed would have told of a release since ``fetched_at``."""
        state = self.state
        return (
            state.mode == "feed"
            and state.since is not None
            and state.read is not None
            and fetched_at >= state.since
            and self._clock.seconds() - state.read <= 2 * self.interval + self.interval / 4
        )

    async def tick(self) -> None:
        """Look at the fleet's state, and poll when this daemon holds the lease and the time has come."""
        try:
            await self._look()
            if await self._leased():
                current = self.state
                if current.tried is None or self._clock.seconds() - current.tried >= self.interval - 0.01:
                    await self._store.set(
                        self._state_key, json.dumps(asdict(await self.poll())).encode(), STATE_TTL
                    )
                    await self._look()
        except Exception:
            log.failure("The feed's tick failed")

    async def _leased(self) -> bool:
        """True when this daemon holds the lease (taking it when it is free), renewed for half an interval."""
        if await self._store.add(self._lease_key, self._me, self.interval / 2):
            return True
        if await self._store.get(self._lease_key) == self._me:
            await self._store.set(self._lease_key, self._me, self.interval / 2)
            return True
        return False

    async def _look(self) -> None:
        """Take on the stored state, and drop the hot responses of packages released since the last look."""
        stored = decode(await self._store.get(self._state_key))
        if stored is None:
            return
        known = self.state.seq
        if stored.seq > known and self.state.tried is not None:
            batches = [names for seq, names in stored.history if seq > known]
            if stored.history and stored.history[0][0] <= known + 1:
                self._drop({name for names in batches for name in names})
            else:  # more batches than the history holds: drop everything
                self._drop(None)
        self.state = stored

    async def poll(self) -> State:
        """One read of the feed, its stale marks made; the new state."""
        asked = self._clock.seconds()
        before = self.state
        self.polls += 1
        state = State(before.mode, before.since, before.read, asked, before.seq, list(before.history))
        try:
            fetched = await self._fetch(self.url)
        except Unavailable as error:
            log.warn("The update feed could not be read ({error}): short TTL", error=error)
            state.mode = "fallback"
            return state
        assert fetched.value is not None
        items: list[Item] = fetched.value["items"]
        start = covered_from(items, asked, 2 * self.interval)
        if before.read is None or start > before.read:  # a gap: trust only what is fetched from now on
            if before.read is not None:
                log.warn(
                    "The update feed has a gap since {read}: short TTL for older documents", read=before.read
                )
            state.since = start
        state.mode, state.read = "feed", asked
        released = await self._mark(
            [item for item in items if (item.package, item.version) not in self._seen]
        )
        self._seen = {(item.package, item.version) for item in items}
        if released:
            state.seq += 1
            state.history = [*state.history, (state.seq, sorted(released))][-HISTORY:]
        return state

    async def _mark(self, items: list[Item]) -> set[str]:
        """Mark stale the cached documents older than their package's new release; the packages."""
        released: dict[str, float] = {}
        for item in items:
            released[item.package] = max(item.published, released.get(item.package, 0.0))
        for name, published in released.items():
            key = keys.package(self._source, name)
            raw = await self._store.get(key)
            if raw is None:
                continue
            try:
                entry: Any = json.loads(raw)
                older = entry["t"] < published + SKEW
            except (ValueError, KeyError, TypeError):
                continue
            if entry.get("missing"):  # a new project: no longer remembered as missing
                await self._store.delete(key)
            elif older:
                entry[STALE] = True
                await self._store.set(key, json.dumps(entry).encode(), self._stale_ttl)
        return set(released)
