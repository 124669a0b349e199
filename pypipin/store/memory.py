"""Key-value stores: a bounded in-process LRU (segmented), and Redis that falls back to it."""

from typing import Protocol

from twisted.internet import defer
from twisted.logger import Logger

from pypipin.store.lru import LRU

log = Logger()


class Store(Protocol):
    """What the service needs of a shared cache."""

    def get(self, key: str) -> defer.Deferred[bytes | None]: ...

    def set(self, key: str, value: bytes, ttl: float) -> defer.Deferred[None]: ...

    def add(self, key: str, value: bytes, ttl: float) -> defer.Deferred[bool]:
        """Set ``key`` only if it is absent; True if this call set it (a lock)."""

    def delete(self, key: str) -> defer.Deferred[None]: ...

    def remember(self, key: str, member: str, stamp: float) -> defer.Deferred[None]:
        """Put ``member`` in the set at ``key`` with the time ``stamp`` (a later stamp replaces it)."""

    def recall(self, key: str, since: float) -> defer.Deferred[list[str]]:
        """The members of the set at ``key`` stamped at ``since`` or later; the older ones are dropped."""

    def take(self, key: str) -> defer.Deferred[list[str]]:
        """Every member of the set at ``key``, removed from it."""

    @property
    def state(self) -> str:
        """``redis``, ``in-process fallback`` (Redis unreachable) or ``in-process`` (no Redis)."""

    reason: str | None
    """Why Redis is not in use (``in-process fallback``), else None."""

    server: str | None
    """``host:port`` of the Redis last in use (the master, with Sentinel); None before one was."""


def store_layer(store: Store) -> str:
    """The cache layer a value found in ``store`` comes from: ``redis`` or ``memory``."""
    return "redis" if store.state == "redis" else "memory"


class MemoryStore:
    """A ``Store`` kept in this process only."""

    state = "in-process"
    reason: str | None = None
    server: str | None = None

    def __init__(self, lru: LRU) -> None:
        self.lru = lru
        self._sets: dict[str, dict[str, float]] = {}

    def get(self, key: str) -> defer.Deferred[bytes | None]:
        return defer.succeed(self.lru.get(key))

    def set(self, key: str, value: bytes, ttl: float) -> defer.Deferred[None]:
        self.lru.set(key, value, ttl)
        return defer.succeed(None)

    def add(self, key: str, value: bytes, ttl: float) -> defer.Deferred[bool]:
        if self.lru.get(key) is not None:
            return defer.succeed(False)
        self.lru.set(key, value, ttl)
        return defer.succeed(True)

    def delete(self, key: str) -> defer.Deferred[None]:
        self.lru.pop(key)
        return defer.succeed(None)

    def remember(self, key: str, member: str, stamp: float) -> defer.Deferred[None]:
        members = self._sets.setdefault(key, {})
        members[member] = max(stamp, members.get(member, stamp))
        return defer.succeed(None)

    def recall(self, key: str, since: float) -> defer.Deferred[list[str]]:
        kept = {member: stamp for member, stamp in self._sets.get(key, {}).items() if stamp >= since}
        self._sets[key] = kept
        return defer.succeed(sorted(kept))

    def take(self, key: str) -> defer.Deferred[list[str]]:
        return defer.succeed(sorted(self._sets.pop(key, {})))
