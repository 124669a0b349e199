"""A bounded in-process cache: a segmented LRU with an expiry per entry."""

from collections import OrderedDict
from collections.abc import Iterator
from itertools import chain
from typing import Any

from twisted.internet.interfaces import IReactorTime

PROTECTED = 0.8  # of an LRU's entries, the most that may be protected (hit at least twice)


class LRU:
    """A dict bounded by entry count and total bytes, with an expiry per entry, that keeps what is hit often.

    Keys are str or bytes; values are anything with a ``len()`` in bytes. A segmented LRU: a new
    entry is on probation, and hit again it is protected (at most ``PROTECTED`` of ``max_entries``;
    beyond that the least recently used protected entry goes back on probation). Room is made on
    probation first, so a flood of entries hit once pushes out only other entries hit once.
    """

    def __init__(self, clock: IReactorTime, max_entries: int, max_bytes: int) -> None:
        self._clock = clock
        self._probation: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self._protected: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._probation) + len(self._protected)

    def __iter__(self) -> Iterator[Any]:
        """The keys, those on probation first."""
        return chain(self._probation, self._protected)

    def items(self) -> Iterator[tuple[Any, Any]]:
        """The keys with their values, as ``__iter__`` orders them; nothing is counted as a use."""
        for key, (_, value) in chain(self._probation.items(), self._protected.items()):
            yield key, value

    def get(self, key: Any) -> Any:
        segment = self._protected if key in self._protected else self._probation
        entry = segment.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock.seconds():
            self._drop(segment, key)
            return None
        if segment is self._protected:
            segment.move_to_end(key)
        else:
            del self._probation[key]
            self._protected[key] = entry
            while len(self._protected) > int(self.max_entries * PROTECTED):
                oldest, demoted = self._protected.popitem(last=False)
                self._probation[oldest] = demoted
        return entry[1]

    def set(self, key: Any, value: Any, ttl: float) -> None:
        segment = self._protected if key in self._protected else self._probation
        if key in segment:
            self._drop(segment, key)
        size = len(key) + len(value)
        if size > self.max_bytes:
            return
        segment[key] = (self._clock.seconds() + ttl, value)  # a protected entry set anew stays protected
        self.bytes += size
        while len(self) > self.max_entries or self.bytes > self.max_bytes:
            # probation's least recently used first, unless it is the entry just set and some are protected
            oldest = (
                self._probation
                if self._probation and (next(iter(self._probation)) != key or not self._protected)
                else self._protected
            )
            self._drop(oldest, next(iter(oldest)))

    def pop(self, key: Any) -> None:
        for segment in (self._probation, self._protected):
            if key in segment:
                self._drop(segment, key)

    def _drop(self, segment: OrderedDict[Any, tuple[float, Any]], key: Any) -> None:
        _, value = segment.pop(key)
        self.bytes -= len(key) + len(value)
