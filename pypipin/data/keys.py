"""Every key pypipin writes to a store, made here: ``pypipin:2:<source>:<name>``, ``pypipin:2:img:<digest>``.

Keys are shared by every daemon of a fleet (and by daemons of the next release): a change to
how one is spelt is a change to what is stored, so it goes with a new ``KEY_PREFIX``.
"""

import hashlib
import json
from typing import Any

KEY_PREFIX = "pypipin:2:"  # of every key pypipin writes; changes when stored values change shape
_IMAGES = "img"
DOWNLOADS = "downloads"  # ClickHouse's counts, the names asked for, the latest day, the hourly check
# the words after the prefix that are no index's name (download counts, images): an index named
# so would share their keys
NOT_INDEX_NAMES = frozenset({"stats", _IMAGES, DOWNLOADS})


def package(source: str, name: str) -> str:
    """The key of package ``name``'s data from ``source`` (an index's name, or ``stats``)."""
    return f"{KEY_PREFIX}{source}:{name}"


def image(spec: dict[str, Any]) -> str:
    """The key of the image drawn from ``spec``: the digest of exactly what the renderer draws."""
    return f"{KEY_PREFIX}{_IMAGES}:" + hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def lock(key: str) -> str:
    """The key of the lock that picks the one process computing ``key``'s value."""
    return key + ":lock"


def downloads(what: str) -> str:
    """The key of ClickHouse's counts of package ``what``; ``:asked``, ``:day``, ``:checked`` (no package
    name holds a ``:``) for the names asked for, the data's latest day and the hourly check."""
    return f"{KEY_PREFIX}{DOWNLOADS}:{what}"
