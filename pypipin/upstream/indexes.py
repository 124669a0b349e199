"""Package indexes serving the PyPI JSON API, each by name, with its credentials kept apart.

An index is configured as ``NAME=URL``; credentials in the URL's userinfo
(``https://user:token@host/pypi``) become an HTTP Basic header for that index alone and
are never part of its URL, its ``repr`` or an error message.
"""

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit, urlunsplit

from pypipin.data.keys import NOT_INDEX_NAMES

DEFAULT = "pypi"  # the name of --pypi-url's index, the one downloads badges exist for
RESERVED = frozenset({DEFAULT}) | NOT_INDEX_NAMES  # names the cache's keys use already
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class Index:
    """An index: documents at ``<url>/<name>/json``; ``url`` carries no credentials."""

    name: str
    url: str
    authorization: bytes | None = field(default=None, repr=False)
    feed: str | None = None  # its update feed, when it has one (PyPI's /rss/updates.xml)

    @property
    def headers(self) -> dict[bytes, bytes]:
        """The headers its requests carry: HTTP Basic when it has credentials."""
        return {b"Authorization": self.authorization} if self.authorization else {}


def index(name: str, url: str) -> Index:
    """The index ``name`` at ``url``; a ValueError never quotes the URL, which may hold a secret."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"index {name!r}: the URL is not http(s)://[user:password@]host[:port]/path")
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ValueError(f"index {name!r}: the URL's port is not a number") from None
    authorization = None
    if parts.username is not None or parts.password is not None:
        secret = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}".encode()
        authorization = b"Basic " + base64.b64encode(secret)
    host = parts.netloc.rpartition("@")[2]
    return Index(name, urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", "")), authorization)


def named(name: str, url: str, feed: str | None = None) -> Index:
    """A configured index: like ``index()``, with a name that is valid and not reserved, and the
    update feed it names (an http(s) URL without credentials), if any."""
    if not _NAME.match(name):
        shown = repr(name) if len(name) <= 32 and ":" not in name and "@" not in name else "given"
        raise ValueError(f"index name {shown} is not 1 to 32 of a-z, 0-9, _ and -, starting with a letter")
    if name in RESERVED:
        raise ValueError(f"index name {name!r} is reserved ({DEFAULT!r} is --pypi-url's)")
    found = index(name, url)
    if feed is None:
        return found
    parts = urlsplit(feed)
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        raise ValueError(f"index {name!r}: the feed URL is not http(s)://host[:port]/path")
    return Index(found.name, found.url, found.authorization, feed)


def pair(text: str) -> Index:
    """An index from ``NAME=URL`` or ``NAME=URL|FEED_URL`` (``|`` is never part of a URL)."""
    name, equals, urls = text.strip().partition("=")
    if not equals:
        raise ValueError("an index is given as NAME=URL, and this has no '='")
    url, bar, feed = urls.partition("|")
    return named(name, url, feed.strip() if bar else None)


def read_file(path: str) -> list[Index]:
    """The indexes of a file with one ``NAME URL [FEED_URL]`` a line (blank lines and # comments skipped)."""
    found = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            name, _, urls = line.strip().partition(" ")
            url, _, feed = urls.strip().partition(" ")
            try:
                found.append(named(name, url, feed.strip() or None))
            except ValueError as error:
                raise ValueError(f"{path}, line {number}: {error}") from None
    return found


def configured(default_url: str, given: list[Index]) -> dict[str, Index]:
    """Every index by name, the default first; a name given twice is an error."""
    every = {DEFAULT: index(DEFAULT, default_url)}
    for each in given:
        if each.name in every:
            raise ValueError(f"index {each.name!r} is configured twice")
        every[each.name] = each
    return every


def chosen(indexes: Mapping[str, Index], name: str | None, base_url: str | None) -> str | None:
    """The index a request picks: ``?index=`` (None when it names none configured), else a
    ``?pypiBaseUrl=`` equal to an index's URL (shields.io's form, without ``/pypi``, too), else the
    default."""
    if name is not None:
        return name if name == DEFAULT or name in indexes else None
    if base_url is not None:
        wanted = base_url.strip().rstrip("/")
        for each in indexes.values():
            if wanted in (each.url, each.url.removesuffix("/pypi")):
                return each.name
    return DEFAULT
