"""An index's update feed (PyPI's ``/rss/updates.xml``): its URL, one bounded fetch, its items decoded."""

from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlencode, urlsplit
from xml.etree.ElementTree import Element

from defusedxml import ElementTree

from pypipin.upstream.summary import Garbled

MAX_BYTES = 2 * 1024 * 1024  # the most read of a feed: 200 items of warehouse's template are about 100 KB
LIMIT = 200  # the most items warehouse answers


@dataclass(frozen=True)
class Item:
    """A release the feed lists: its project's normal name (from the link), version, and when it was made."""

    package: str
    version: str
    published: float


def url_for(index_url: str) -> str:
    """The feed of an index whose JSON API is at ``index_url`` (``https://pypi.org/pypi``)."""
    return index_url.rstrip("/").removesuffix("/pypi") + "/rss/updates.xml"


def with_query(url: str, max_age: float, limit: int = LIMIT) -> str:
    """The feed's URL asking for the releases of the last ``max_age`` seconds, at most ``limit`` of them."""
    return f"{url}?{urlencode({'max_age': int(max_age), 'limit': limit})}"


def items(body: bytes) -> list[Item]:
    """The feed's items, newest first as served; an item whose link or date cannot be read is skipped.

    Parsed by defusedxml: no DTD, entities or external references. Garbled for a body that is
    not an RSS feed.
    """
    try:
        root = ElementTree.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except Exception as error:  # defusedxml raises ParseError and its own DefusedXmlException
        raise Garbled(f"the feed is not XML that may be read: {error}") from None
    if root.tag != "rss" or root.find("channel") is None:
        raise Garbled("the feed is not RSS")
    found = []
    for element in root.iterfind("channel/item"):
        item = _item(element)
        if item is not None:
            found.append(item)
    return found


def _item(element: Element) -> Item | None:
    parts = urlsplit(element.findtext("link", "").strip()).path.strip("/").split("/")
    if len(parts) < 3 or parts[-3] != "project":
        return None
    try:
        published = parsedate_to_datetime(element.findtext("pubDate", "").strip()).timestamp()
    except (TypeError, ValueError):
        return None
    return Item(parts[-2].lower(), parts[-1], published)
