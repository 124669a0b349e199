"""Package data: cached summaries and download counts, fresh, stale or fetched once."""

import json
from dataclasses import dataclass
from typing import Any, Callable

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from pypipin.cache import Store
from pypipin.singleflight import SingleFlight
from pypipin.upstream import NotFound, Unavailable

log = Logger()

NOT_FOUND_TTL = 60


@dataclass(frozen=True)
class Data:
    value: dict[str, Any]
    fresh_until: float
    stale: bool = False


def _decode(raw: bytes | None) -> dict[str, Any] | None:
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
    return entry


class Packages:
    """Summaries (``pypi``) and download counts (``stats``) of packages, by normal name.

    Each answer is kept for ``stale_ttl``; it is fresh for the source's TTL. When
    it is no longer fresh and upstream fails, the stale copy is served.
    """

    def __init__(
        self,
        clock: IReactorTime,
        store: Store,
        fetchers: dict[str, Callable[[str], defer.Deferred[dict[str, Any]]]],
        ttls: dict[str, float],
        stale_ttl: float,
    ) -> None:
        self._clock = clock
        self._store = store
        self._fetchers = fetchers
        self._ttls = ttls
        self._stale_ttl = stale_ttl
        self._flights = SingleFlight()

    async def get(self, source: str, name: str) -> Data:
        key = f"pypipin:1:{source}:{name}"
        entry = _decode(await self._store.get(key))
        now = self._clock.seconds()
        if entry is not None:
            if entry.get("missing"):
                if now < entry["t"] + NOT_FOUND_TTL:
                    raise NotFound(name)
            elif now < entry["t"] + self._ttls[source]:
                return Data(entry["v"], entry["t"] + self._ttls[source])
        try:
            return await self._flights.run(key, lambda: self._fetch(source, name, key))
        except Unavailable as error:
            if entry is None or entry.get("missing"):
                raise
            log.warn("Serving stale {source} data for {name}: {error}", source=source, name=name, error=error)
            return Data(entry["v"], now, stale=True)

    async def _fetch(self, source: str, name: str, key: str) -> Data:
        now = self._clock.seconds()
        try:
            value = await self._fetchers[source](name)
        except NotFound:
            await self._store.set(key, json.dumps({"t": now, "missing": True}).encode(), NOT_FOUND_TTL)
            raise
        await self._store.set(key, json.dumps({"t": now, "v": value}).encode(), self._stale_ttl)
        return Data(value, now + self._ttls[source])
