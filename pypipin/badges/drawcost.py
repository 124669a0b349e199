"""What a logo costs resvg to draw, once every clip-path and <use> reference is resolved.

resvg draws a referenced element again at each reference: a shape clipped by a clip path
whose shapes are clipped by another clip path costs the product of their fan-outs, so a
3 KB logo can ask for k^depth draws. Each element's cost is counted once (memoised) and
multiplied where it is referenced; a reference back into itself is refused.

Weights, from real renders through node (``scripts/bench renderer``, logo costs table; 2
cores, scale 4, 14x14 logo box, shapes as large as resvg lets a layer grow): a shape 0.04
ms, a group layer (opacity) 0.3-0.6 ms, a clip-path application (a layer and its mask)
3-5 ms. In shapes: a layer 16, a clip 128. A plain shape's cost hardly depends on its area
(tiny-skia clips it to the canvas); a layer's does, up to resvg's bound, so each layer is
counted at the largest area it can take.
"""

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

SVG = "{http://www.w3.org/2000/svg}"
_XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
LAYER = 16
CLIP = 128
SHAPES = frozenset(SVG + name for name in "path rect circle ellipse line polyline polygon".split())
NOT_DRAWN = frozenset(
    SVG + name
    for name in "defs clipPath linearGradient radialGradient stop symbol title desc metadata style".split()
)
LAYER_PROPERTIES = ("opacity", "mix-blend-mode", "isolation")
_CLIP_URL = re.compile(r"""url\s*\(\s*['"]?#([^'")\s]+)""")


class Cycle(ValueError):
    """An element is drawn inside itself through a reference."""


@dataclass(frozen=True)
class Cost:
    """Shapes, layers and clip-path applications drawn."""

    shapes: int = 0
    layers: int = 0
    clips: int = 0

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(self.shapes + other.shapes, self.layers + other.layers, self.clips + other.clips)

    @property
    def total(self) -> int:
        """In shapes: what drawing it costs, weighted by the timings above."""
        return self.shapes + LAYER * self.layers + CLIP * self.clips

    def __str__(self) -> str:
        return f"{self.clips:,} clip-path applications, {self.layers:,} layers, {self.shapes:,} shapes"


def cost(root: ET.Element, ids: dict[str, ET.Element], every_element_a_layer: bool = False) -> Cost:
    """What drawing ``root`` costs; ``every_element_a_layer`` when a <style> element may give any
    element its own layer (opacity). Raises ``Cycle`` for a reference back into itself."""
    return _Counter(ids, every_element_a_layer).drawn(root)


def _property(element: ET.Element, name: str) -> str | None:
    """A presentation attribute, or the same property in the element's style attribute."""
    for declaration in (element.get("style") or "").split(";"):
        key, _, value = declaration.partition(":")
        if key.strip().lower() == name:
            return value
    return element.get(name)


class _Counter:
    def __init__(self, ids: dict[str, ET.Element], every_element_a_layer: bool) -> None:
        self._ids = ids
        self._every_layer = every_element_a_layer
        self._known: dict[tuple[int, str], Cost] = {}
        self._open: set[tuple[int, str]] = set()

    def drawn(self, element: ET.Element) -> Cost:
        """The cost of ``element`` where the tree or a reference draws it."""
        return self._once(element, "drawn", lambda: self._own(element) + self._clip(element))

    def _once(self, element: ET.Element, kind: str, count: Callable[[], Cost]) -> Cost:
        """``count()``, memoised for ``element``; ``Cycle`` when it is asked for while it is counted."""
        key = (id(element), kind)
        if key in self._known:
            return self._known[key]
        if key in self._open:
            raise Cycle(element.tag.rpartition("}")[2])
        self._open.add(key)
        self._known[key] = count()
        self._open.discard(key)
        return self._known[key]

    def _own(self, element: ET.Element) -> Cost:
        found = Cost(
            layers=int(
                self._every_layer or any(_property(element, name) is not None for name in LAYER_PROPERTIES)
            )
        )
        if element.tag in SHAPES:
            return found + Cost(shapes=1)
        if element.tag == SVG + "use":
            target = self._ids.get((element.get("href") or element.get(_XLINK_HREF) or "")[1:])
            return found if target is None else found + self.drawn(target)
        glyphs = sum(len("".join(part.split())) for part in (element.text, element.tail) if part)
        return found + Cost(shapes=glyphs) + self._children(element)

    def _children(self, element: ET.Element) -> Cost:
        total = Cost()
        for child in element:
            if child.tag not in NOT_DRAWN:
                total += self.drawn(child)
        return total

    def _clip(self, element: ET.Element) -> Cost:
        """One clip-path application, and what drawing the clip path's own shapes costs."""
        match = _CLIP_URL.search(_property(element, "clip-path") or "")
        clip = self._ids.get(match.group(1)) if match else None
        if clip is None:
            return Cost()
        return Cost(clips=1) + self._clip_path(clip)

    def _clip_path(self, clip: ET.Element) -> Cost:
        """A clip path's shapes (each may be clipped in turn), and its own clip-path."""
        return self._once(clip, "clip", lambda: self._children(clip) + self._clip(clip))
