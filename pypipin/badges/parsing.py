"""Parse a badge URL, once, into one immutable value."""

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote_plus, unquote_to_bytes

from packaging.utils import InvalidName, canonicalize_name

from pypipin.badges import logos
from pypipin.badges.formats import FORMATS
from pypipin.badges.kinds import KINDS, ORIGINAL_NAMES, SHIELDS_NAMES, Kind
from pypipin.badges.lifetimes import MAX_CACHE_SECONDS
from pypipin.badges.rules import FRAMEWORKS
from pypipin.upstream.indexes import DEFAULT, Index, chosen

STYLES = ("flat", "flat-square", "plastic", "for-the-badge", "social")
NAMED_COLORS = frozenset(
    "brightgreen green yellow yellowgreen orange red blue grey gray lightgrey lightgray "
    "critical important success informational inactive".split()
)
# badge-maker's colour synonyms, each spelt one way so that equal images share one cache entry
COLOR_SYNONYMS = {
    "gray": "grey",
    "lightgray": "lightgrey",
    "critical": "red",
    "important": "orange",
    "success": "brightgreen",
    "informational": "blue",
    "inactive": "lightgrey",
}
MAX_NAME = 200
MAX_LABEL = 200  # characters of ``?label=``
MAX_LOGO = 8192  # characters of a data: URL; Twisted caps the whole request head at 16 KiB
SCALES = range(1, 5)  # raster sizes: that many times larger
HEX_COLOR = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_LOGO_PREFIX = "data:image/svg+xml;base64,"
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ufffe\uffff]")


@dataclass(frozen=True)
class BadgeRequest:
    kind: Kind
    name: str  # the package name as asked, decoded
    package: str | None  # its PEP 503 normal form, None when the name is not valid
    format: str
    options: tuple[tuple[str, str], ...] = ()  # rule options: period, framework, ...
    style: str = "flat"
    label: str | None = None
    color: str | None = None
    label_color: str | None = None
    cache_seconds: int = 0
    scale: int = 1
    logo: str | None = None
    index: str | None = DEFAULT  # the configured index it reads; None when it names one not configured
    # the query as the badge reads it: only the parameters it takes, each valid, one spelling, in
    # one order ("" when it takes none); every URL of this badge shares it (see ``key``)
    canonical: str = ""


def key(path: bytes, wanted: BadgeRequest) -> bytes:
    """The hot-path key of a badge URL: its path and canonical query, so that an unknown or invalid
    parameter (``?x=1``) finds the same entry as the URL without it."""
    return path + b"?" + wanted.canonical.encode() if wanted.canonical else path


def _canonical(read: Mapping[str, str | None]) -> str:
    """``name=value`` of each parameter read (just ``name`` for an empty value), sorted by name."""
    return "&".join(
        name + ("=" + quote(value, safe="") if value else "")
        for name, value in sorted(read.items())
        if value is not None
    )


def _decode_segment(segment: bytes) -> str | None:
    try:
        return unquote_to_bytes(segment).decode("utf-8")
    except UnicodeDecodeError:
        return None


def normalise(name: str) -> str | None:
    """The PEP 503 form of a valid distribution name, else None."""
    if len(name) > MAX_NAME:
        return None
    try:
        return canonicalize_name(name, validate=True)
    except InvalidName:
        return None


def _split_extension(last: str) -> tuple[str, str]:
    """``twisted.png`` -> (``twisted``, ``png``); no known extension means svg."""
    stem, dot, ext = last.rpartition(".")
    if dot and ext.lower() in FORMATS:
        return stem, ext.lower()
    return last, "svg"


def _route(parts: Sequence[str]) -> tuple[str, Mapping[str, str], str, str] | None:
    """Kind name, fixed options, package and format of a path, or None if it is no badge."""
    if len(parts) == 3 and parts[0] in ORIGINAL_NAMES and parts[2].startswith("badge."):
        ext = parts[2][len("badge.") :]
        if ext in FORMATS:
            kind, fixed = ORIGINAL_NAMES[parts[0]]
            return kind, fixed, parts[1], ext
        return None
    if len(parts) < 3 or parts[0] != "pypi" or parts[1] not in SHIELDS_NAMES:
        return None
    kind, fixed = SHIELDS_NAMES[parts[1]]
    if parts[1] == "frameworkversions":
        if len(parts) != 4 or parts[2].lower() not in FRAMEWORKS:
            return None
        fixed = {"framework": parts[2].lower()}
    elif len(parts) != 3:
        return None
    package, ext = _split_extension(parts[-1])
    return kind, fixed, package, ext


def _color(value: str | None) -> str | None:
    """A colour in one spelling: a name without synonyms, or ``#rrggbb`` in lower case."""
    if value is None:
        return None
    if value.lower() in NAMED_COLORS:
        return COLOR_SYNONYMS.get(value.lower(), value.lower())
    match = HEX_COLOR.match(value)
    if not match:
        return None
    digits = match.group(1).lower()
    return "#" + ("".join(digit * 2 for digit in digits) if len(digits) == 3 else digits)


def _int(value: str | None, low: int, high: int, default: int) -> int:
    if value is None or not value.isascii() or not value.isdigit():
        return default
    number = int(value[:12])
    return number if low <= number <= high else default


def _badge_text(value: str | None) -> str | None:
    """Text for the badge, trimmed: up to ``MAX_LABEL`` printable characters (no control characters)."""
    if value is None or not value.strip() or len(value) > MAX_LABEL or _UNPRINTABLE.search(value):
        return None
    return value.strip()


def _logo(value: str | None) -> str | None:
    """A logo that passes ``logos.check``; any other is dropped, so the badge is drawn without it."""
    if value is None or len(value) > MAX_LOGO or not value.startswith(_LOGO_PREFIX) or not value.isascii():
        return None
    try:
        logos.check(base64.b64decode(value[len(_LOGO_PREFIX) :], validate=True))
    except (binascii.Error, logos.Refused):  # not base64 (of ASCII text, only binascii.Error), or not drawn
        return None
    return value


MAX_PARAMETERS = 32
# the query parameters every badge reads (each kind's ``query`` options besides); conf/varnish-badges.vcl
# drops any other from the URL
PARAMETERS = (
    "style",
    "label",
    "text",
    "color",
    "colorB",
    "labelColor",
    "colorA",
    "cacheSeconds",
    "scale",
    "logo",
    "index",
    "pypiBaseUrl",
)


def query(raw: bytes) -> dict[str, str]:
    """The first value of each of the first parameters of a query string (bad UTF-8 replaced).

    A parameter without ``=`` (``?include_prereleases``) has the value ``""``.
    """
    found: dict[str, str] = {}
    for part in raw.split(b"&", MAX_PARAMETERS)[:MAX_PARAMETERS]:
        name, _, value = part.partition(b"=")
        key = unquote_plus(name.decode("latin-1"), encoding="utf-8", errors="replace")
        if key and key not in found:
            found[key] = unquote_plus(value.decode("latin-1"), encoding="utf-8", errors="replace")
    return found


def parse(
    path: bytes, params: Mapping[str, str], indexes: Mapping[str, Index] | None = None
) -> BadgeRequest | None:
    """The badge a URL asks for, or None when the URL is no badge at all (a 404).

    ``indexes``: the configured indexes by name, for ``?index=`` and ``?pypiBaseUrl=``.
    """
    decoded = [_decode_segment(segment) for segment in path.split(b"/")[1:]]
    parts = [part for part in decoded if part is not None]
    if len(parts) < len(decoded):
        return None
    route = _route(parts)
    if route is None:
        return None
    kind_name, fixed, name, ext = route
    kind = KINDS[kind_name]
    options = dict(fixed)
    for option, read in kind.query.items():  # a URL name's fixed options win
        value = read(params[option]) if option in params and option not in options else None
        if value is not None:
            options[option] = value
    style = params.get("style", "flat")
    if style not in STYLES:
        style = "flat"
    cache_seconds = _int(params.get("cacheSeconds"), 0, MAX_CACHE_SECONDS, 0)
    lowest = SCALES[0]
    scale = _int(params.get("scale"), lowest, SCALES[-1], lowest) if FORMATS[ext].scalable else lowest
    index = chosen(indexes or {}, params.get("index"), params.get("pypiBaseUrl"))
    label = _badge_text(params.get("label")) or _badge_text(params.get("text"))
    color = _color(params.get("color") or params.get("colorB"))
    label_color = _color(params.get("labelColor") or params.get("colorA"))
    logo = _logo(params.get("logo"))
    canonical = _canonical(
        {
            **{option: value for option, value in options.items() if option not in fixed},
            "style": None if style == "flat" else style,
            "label": label,
            "color": color,
            "labelColor": label_color,
            "logo": logo,
            "cacheSeconds": str(cache_seconds) if cache_seconds else None,
            "scale": str(scale) if scale != lowest else None,
            "index": None if index == DEFAULT else index or "",  # "": one not configured
        }
    )
    return BadgeRequest(
        kind=kind,
        name=name,
        package=normalise(name),
        format=FORMATS[ext].name,
        options=tuple(sorted(options.items())),
        style=style,
        cache_seconds=cache_seconds,
        scale=scale,
        index=index,
        label=label,
        color=color,
        label_color=label_color,
        logo=logo,
        canonical=canonical,
    )
