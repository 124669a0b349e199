"""Every key pypipin writes to a store, made here: ``pypipin:2:<source>:<name>``, ``pypipin:2:img:<digest>``,
the fleet's token buckets ``pypipin:2:bucket:<name>`` and its heartbeats ``pypipin:2:fleet``.

Keys are shared by every daemon of a fleet (and by daemons of the next release): a change to
how one is spelt is a change to what is stored, so it goes with a new ``KEY_PREFIX``.
"""

import hashlib
import json
from typing import Any

KEY_PREFIX = "pypipin:2:"  # of every key pypipin writes; changes when stored values change shape
_IMAGES = "img"
_SIMPLE = "simple"
_INTEGRITY = "integrity"
_BUCKETS = "bucket"
_FLEET = "fleet"
_FEED = "feed"
DOWNLOADS = "downloads"  # ClickHouse's counts, the names asked for, the latest day, the hourly check
# the words after the prefix that are no index's name (download counts, images, simple documents,
# provenances, buckets, the fleet, the update feed, ClickHouse's counts): an index named so would
# share their keys
NOT_INDEX_NAMES = frozenset({"stats", _IMAGES, _SIMPLE, _INTEGRITY, _BUCKETS, _FLEET, _FEED, DOWNLOADS})


def package(source: str, name: str) -> str:
    """The key of package ``name``'s data from ``source`` (an index's name, or ``stats``)."""
    return f"{KEY_PREFIX}{source}:{name}"


def simple(index: str) -> str:
    """The source of the simple documents of index ``index``: ``simple:<index>``."""
    return f"{_SIMPLE}:{index}"


def integrity(index: str) -> str:
    """The source of the Integrity API answers of index ``index`` (one per file): ``integrity:<index>``."""
    return f"{_INTEGRITY}:{index}"


def image(spec: dict[str, Any]) -> str:
    """The key of the image drawn from ``spec``: the digest of exactly what the renderer draws."""
    return f"{KEY_PREFIX}{_IMAGES}:" + hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def lock(key: str) -> str:
    """The key of the lock that picks the one process computing ``key``'s value."""
    return key + ":lock"


def bucket(name: str) -> str:
    """The key of the fleet's token bucket called ``name`` (a limit of all clients, or one client's)."""
    return f"{KEY_PREFIX}{_BUCKETS}:{name}"


def fleet() -> str:
    """The key of the fleet's heartbeats: a sorted set of daemons by when each was last heard from."""
    return f"{KEY_PREFIX}{_FLEET}"


def feed(source: str, what: str) -> str:
    """The key of the fleet's ``what`` (``lease`` or ``state``) for the update feed of index ``source``."""
    return f"{KEY_PREFIX}{_FEED}:{source}:{what}"


def downloads(what: str) -> str:
    """The key of ClickHouse's counts of package ``what``; ``:asked``, ``:day``, ``:checked`` (no package
    name holds a ``:``) for the names asked for, the data's latest day and the hourly check."""
    return f"{KEY_PREFIX}{DOWNLOADS}:{what}"
