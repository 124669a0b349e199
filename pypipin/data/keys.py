"""Every key pypipin writes to a store, made here: ``pypipin:2:<source>:<name>``, ``pypipin:2:img:<digest>``.

Keys are shared by every daemon of a fleet (and by daemons of the next release): a change to
how one is spelt is a change to what is stored, so it goes with a new ``KEY_PREFIX``.
"""

import hashlib
import json
from typing import Any

KEY_PREFIX = "pypipin:2:"  # of every key pypipin writes; changes when stored values change shape
_IMAGES = "img"
_FEED = "feed"
# the words after the prefix that are no index's name (download counts, images): an index named
# so would share their keys
NOT_INDEX_NAMES = frozenset({"stats", _IMAGES, _FEED})


def package(source: str, name: str) -> str:
    """The key of package ``name``'s data from ``source`` (an index's name, or ``stats``)."""
    return f"{KEY_PREFIX}{source}:{name}"


def image(spec: dict[str, Any]) -> str:
    """The key of the image drawn from ``spec``: the digest of exactly what the renderer draws."""
    return f"{KEY_PREFIX}{_IMAGES}:" + hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def lock(key: str) -> str:
    """The key of the lock that picks the one process computing ``key``'s value."""
    return key + ":lock"


def feed(source: str, what: str) -> str:
    """The key of the fleet's ``what`` (``lease`` or ``state``) for the update feed of index ``source``."""
    return f"{KEY_PREFIX}{_FEED}:{source}:{what}"
