"""The segmented LRU on a fake clock: bounded by entries, bytes and time; a scan of one-hit entries
cannot push a frequently hit one out."""

from twisted.internet import task

from pypipin.store.lru import LRU


def test_lru_bounded_by_entries_bytes_and_time() -> None:
    clock = task.Clock()
    lru = LRU(clock, max_entries=3, max_bytes=100)
    for key in "abcd":
        lru.set(key, b"x" * 10, ttl=60)
    assert len(lru) == 3 and lru.get("a") is None  # the oldest went first
    lru.get("b")  # b is now the most recently used
    lru.set("e", b"y" * 60, ttl=60)
    assert lru.get("c") is None and lru.get("b") == b"x" * 10 and lru.bytes <= 100
    lru.set("huge", b"z" * 200, ttl=60)
    assert lru.get("huge") is None  # larger than the whole cache: not kept
    clock.advance(61)
    assert lru.get("b") is None and lru.get("e") is None


def test_lru_keeps_a_frequently_hit_entry_through_a_scan_of_one_hit_entries() -> None:
    clock = task.Clock()
    lru = LRU(clock, max_entries=100, max_bytes=1 << 20)
    lru.set("hot", b"h", ttl=60)
    lru.get("hot")  # hit again: protected
    for n in range(200):  # twice the cache in entries asked for once (a plain LRU loses "hot" here)
        lru.set(f"scan{n}", b"s", ttl=60)
    assert lru.get("hot") == b"h"
    assert len(lru) == 100 and lru.get("scan0") is None and lru.get("scan199") == b"s"
    lru.set("hot", b"new", ttl=60)  # set anew, it stays protected
    for n in range(200, 400):
        lru.set(f"scan{n}", b"s", ttl=60)
    assert lru.get("hot") == b"new"
    lru.pop("hot")
    assert (
        lru.get("hot") is None
        and len(lru) == 99
        and lru.bytes == sum(len(f"scan{n}") + 1 for n in range(301, 400))
    )


def test_lru_protects_at_most_most_of_it() -> None:
    clock = task.Clock()
    lru = LRU(clock, max_entries=10, max_bytes=1 << 20)
    for n in range(10):  # all hit twice: only 8 can be protected, the rest go back on probation
        lru.set(n.to_bytes(1, "big"), b"v", ttl=60)
        lru.get(n.to_bytes(1, "big"))
    lru.set(b"new", b"v", ttl=60)  # room is made on probation: the least recently protected-then-demoted go
    assert lru.get(b"\x00") is None and all(lru.get(n.to_bytes(1, "big")) for n in range(2, 10))
    assert len(lru) == 10
