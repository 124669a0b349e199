"""A logo is checked before it is drawn: plain vector shapes only, every size bounded.

resvg allocates by what an SVG asks for: a filter region, a pattern tile, a mask, an
embedded image, a dash pattern or a `use` that repeats a `use` can each cost gigabytes
or minutes from a few hundred bytes. A logo is parsed safely (no DTD, so no entity
expansion), then refused unless it is a small tree of known shape elements, with local
references only, and with every number of a sane size.
"""

import functools
import re
import xml.etree.ElementTree as ET

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from pypipin.badges.drawcost import LAYER_PROPERTIES, Cycle, cost

MAX_BYTES = 6144  # of decoded SVG: what 8,192 characters of base64 hold
MAX_ELEMENTS = 256
MAX_DEPTH = 16
MAX_USES = 16
MAX_CLIPS = 16
MAX_COST = 4096  # in shapes (drawcost.py): the costliest logos accepted take 70-200 ms at scale 4
MAX_NUMBER = 100_000  # any number, coordinates and transforms included
MAX_SIZE = 10_000  # width, height and each viewBox length
VERDICTS_KEPT = 512  # logos whose verdict is remembered: at most 3 MiB of them

SVG_NS = "http://www.w3.org/2000/svg"
_XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_XHTML_NS = "http://www.w3.org/1999/xhtml"
ALLOWED = frozenset(
    "svg g defs symbol use path rect circle ellipse line polyline polygon linearGradient radialGradient stop "
    "clipPath title desc metadata text tspan style".split()
)
# properties that make resvg draw off-screen layers or unbounded geometry, as attributes or in CSS
FORBIDDEN_PROPERTIES = ("filter", "mask", "stroke-dasharray")
_LOCAL_REF = re.compile(r"#[A-Za-z_][\w.:-]*")
_URL = re.compile(r"url\s*\(([^)]*)\)", re.IGNORECASE)
_URL_OPEN = re.compile(r"url\s*\(", re.IGNORECASE)
_LOCAL_URL = re.compile(r"""\s*(['"]?)#[A-Za-z_][\w.:-]*\1\s*""")
_LAYER_CSS = re.compile(rf"(?<![\w-])(?:{'|'.join(LAYER_PROPERTIES)})\s*:")
_HEX = re.compile(r"#[0-9a-fA-F]+")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_LENGTH = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*(px|%)?\s*")
_NOT_NUMBERS = frozenset(["id", "class", "href", _XLINK_HREF, "font-family"])


class Refused(Exception):
    """The logo is not drawn; the message says why."""


def check(svg: bytes) -> None:
    """Raise ``Refused`` unless ``svg`` is a logo resvg draws cheaply."""
    if len(svg) > MAX_BYTES:
        raise Refused(f"larger than {MAX_BYTES} bytes")
    refused = _verdict(svg)
    if refused is not None:
        raise Refused(refused)


@functools.lru_cache(maxsize=VERDICTS_KEPT)
def _verdict(svg: bytes) -> str | None:
    """Why ``svg`` is refused, or None: the same logo comes with every request for its badges."""
    try:
        _check(svg)
    except Refused as refused:
        return str(refused)
    return None


def _check(svg: bytes) -> None:
    root = _parse(svg)
    if root.tag != f"{{{SVG_NS}}}svg":
        raise Refused("not an <svg> document")
    elements = _walk(root)
    ids = {name: element for element in elements if (name := element.get("id"))}
    if len(ids) != sum(1 for element in elements if element.get("id")):
        raise Refused("two elements with one id")
    uses = [element for element in elements if element.tag == f"{{{SVG_NS}}}use"]
    if len(uses) > MAX_USES:
        raise Refused(f"more than {MAX_USES} <use> elements")
    for use in uses:
        target = ids.get((use.get("href") or use.get(_XLINK_HREF) or "")[1:])
        if target is not None and any(each.tag == use.tag for each in target.iter()):
            raise Refused("a <use> repeats an element that holds a <use>")
    if sum(element.tag == f"{{{SVG_NS}}}clipPath" for element in elements) > MAX_CLIPS:
        raise Refused(f"more than {MAX_CLIPS} clip paths")
    _check_size(root)
    _check_cost(root, ids)


class _Builder(ET.TreeBuilder):
    def pi(self, target: str, data: str | None = None) -> ET.Element:
        raise Refused("a processing instruction")  # e.g. <?xml-stylesheet?>, anywhere in the document


def _parse(svg: bytes) -> ET.Element:
    parser = DefusedXMLParser(target=_Builder(), forbid_dtd=True)
    try:
        svg.decode("utf-8")
        parser.feed(svg)
        return parser.close()
    except (UnicodeDecodeError, ET.ParseError, DefusedXmlException) as failure:
        raise Refused(f"not well-formed UTF-8 XML without a DTD: {type(failure).__name__}") from None


def _walk(root: ET.Element) -> list[ET.Element]:
    """Every element, checked on its own, after bounding the tree's depth and size."""
    found: list[ET.Element] = []
    level = [root]
    for _ in range(MAX_DEPTH):
        found += level
        if len(found) > MAX_ELEMENTS:
            raise Refused(f"more than {MAX_ELEMENTS} elements")
        level = [child for element in level for child in element]
        if not level:
            break
    else:
        raise Refused(f"nested deeper than {MAX_DEPTH}")
    for element in found:
        _check_element(element)
    return found


def _check_element(element: ET.Element) -> None:
    namespace, _, name = element.tag[1:].rpartition("}")
    if namespace == SVG_NS and name not in ALLOWED:
        raise Refused(f"a <{name}> element")
    if namespace in ("", _XHTML_NS):
        raise Refused(f"an element outside SVG: <{name}>")
    for attribute, value in element.items():
        _check_attribute(attribute, value)
    if name == "style" and element.text:
        _check_css(element.text)
        if "clip-path" in element.text.lower():  # which elements it reaches is not worked out
            raise Refused("a clip-path in a <style> element (as an attribute only: there its cost is known)")


def _check_attribute(attribute: str, value: str) -> None:
    name = attribute.rpartition("}")[2]
    if name.lower().startswith("on"):
        raise Refused(f"an event handler {name}")
    if name in FORBIDDEN_PROPERTIES:
        raise Refused(f"a {name} attribute")
    if name == "href" and not _LOCAL_REF.fullmatch(value):
        raise Refused("a reference outside the logo")
    if name == "style":
        _check_css(value)
    _check_urls(value)
    if attribute not in _NOT_NUMBERS and attribute[0] != "{":
        _check_numbers(value)


def _check_css(text: str) -> None:
    lowered = text.lower()
    if "\\" in lowered or "@" in lowered:
        raise Refused("CSS escapes or at-rules")
    for prop in FORBIDDEN_PROPERTIES:
        if prop in lowered:
            raise Refused(f"CSS {prop}")
    _check_urls(text)
    _check_numbers(text)


def _check_urls(value: str) -> None:
    for target in _URL.findall(value):
        if not _LOCAL_URL.fullmatch(target):
            raise Refused("a url() outside the logo")
    if len(_URL_OPEN.findall(value)) != len(_URL.findall(value)):
        raise Refused("a url( that does not close")


def _check_numbers(value: str) -> None:
    for number in _NUMBER.findall(_HEX.sub(" ", _URL.sub(" ", value))):
        if not abs(float(number)) <= MAX_NUMBER:
            raise Refused(f"the number {number[:20]} (largest allowed {MAX_NUMBER})")


def _check_cost(root: ET.Element, ids: dict[str, ET.Element]) -> None:
    styles = " ".join(style.text or "" for style in root.iter(f"{{{SVG_NS}}}style")).lower()
    try:
        drawn = cost(root, ids, every_element_a_layer=_LAYER_CSS.search(styles) is not None)
    except Cycle as cycle:
        raise Refused(f"a reference cycle: a <{cycle}> drawn inside itself by clip-path or <use>") from None
    if drawn.total > MAX_COST:
        raise Refused(
            f"costs {drawn.total:,} to draw once clip-path and <use> references are resolved "
            f"({drawn}; at most {MAX_COST:,})"
        )


def _check_size(root: ET.Element) -> None:
    for name in ("width", "height"):
        value = root.get(name)
        if value is not None:
            match = _LENGTH.fullmatch(value)
            if not match or float(match.group(1)) > MAX_SIZE:
                raise Refused(f"{name} {value[:20]!r}: a number of px up to {MAX_SIZE} only")
    view_box = root.get("viewBox")
    if view_box is not None:
        lengths = _NUMBER.findall(view_box)
        if len(lengths) != 4 or not all(0 < float(length) <= MAX_SIZE for length in lengths[2:]):
            raise Refused(f"viewBox {view_box[:40]!r}: lengths above 0 and up to {MAX_SIZE} only")
