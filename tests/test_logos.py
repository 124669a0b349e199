"""The logo check, in memory: hostile SVGs are refused (each for its own reason), real logos pass."""

import base64

import pytest

from pypipin.badges import drawcost, logos
from pypipin.badges.parsing import parse
from tests.support.logos import BIG, CLIPPED, FLOOD, PYTHON, SVG_NS, TURBULENCE, clip_chain

XLINK = 'xmlns:xlink="http://www.w3.org/1999/xlink"'

INKSCAPE = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n<!-- made by hand -->\n'
    f'<svg {SVG_NS} {XLINK} xmlns:sodipodi="http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd" '
    'xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape" '
    'width="64" height="64px" viewBox="0,0,64,64">'
    '<sodipodi:namedview inkscape:zoom="1e99" id="base"/>'
    '<defs><linearGradient id="g"><stop offset="0" stop-color="#9e99ab"/><stop offset="1" stop-color="#fff"/>'
    '</linearGradient><clipPath id="c"><circle cx="32" cy="32" r="30"/></clipPath>'
    '<g id="dot"><circle r="4" style="fill:url(#g);stroke:#1e3a5f;stroke-width:1.5"/></g></defs>'
    '<style>.a { fill: url("#g"); opacity: .8 }</style>'
    '<g clip-path="url(#c)" inkscape:label="Layer 1"><rect class="a" width="64" height="64"/>'
    '<use xlink:href="#dot" x="16" y="16"/><use href="#dot" x="48" y="48" transform="rotate(45 32 32)"/>'
    '<text x="8" y="60" font-size="10" font-family="DejaVu Sans">py<tspan>pi</tspan></text></g></svg>'
)


def nested(depth: int) -> str:
    return f"<svg {SVG_NS}>" + "<g>" * depth + "<rect width='1' height='1'/>" + "</g>" * depth + "</svg>"


@pytest.mark.parametrize(
    "svg",
    [PYTHON, INKSCAPE, CLIPPED, nested(logos.MAX_DEPTH - 2)],
    ids=["python", "inkscape", "clipped", "deep"],
)
def test_real_logos_are_accepted(svg: str) -> None:
    logos.check(svg.encode())


HOSTILE = [
    ("turbulence", TURBULENCE, "<filter>"),
    ("flood", FLOOD, "<filter>"),
    (
        "filter attribute",
        f'<svg {SVG_NS}><rect width="1" height="1" filter="blur(5)"/></svg>',
        "filter attribute",
    ),
    (
        "css blur",
        f'<svg {SVG_NS}><rect style="filter: blur(100px)" width="1" height="1"/></svg>',
        "CSS filter",
    ),
    (
        "css blur in a style element",
        f"<svg {SVG_NS}><style>rect {{ FILTER: blur(9px) }}</style></svg>",
        "CSS filter",
    ),
    ("css escape", f"<svg {SVG_NS}><style>rect {{ f\\69lter: blur(9px) }}</style></svg>", "CSS escapes"),
    ("css import", f'<svg {SVG_NS}><style>@import "http://evil/x.css";</style></svg>', "at-rules"),
    ("mask", f'<svg {SVG_NS}><mask id="m"/><rect mask="url(#m)" width="1" height="1"/></svg>', "<mask>"),
    ("mask attribute", f'<svg {SVG_NS}><rect mask="url(#m)" width="1" height="1"/></svg>', "mask attribute"),
    ("pattern", f'<svg {SVG_NS}><pattern id="p" width="1e-9" height="1e-9"/></svg>', "<pattern>"),
    ("foreignObject", f"<svg {SVG_NS}><foreignObject><div/></foreignObject></svg>", "<foreignObject>"),
    ("script", f"<svg {SVG_NS}><script>alert(1)</script></svg>", "<script>"),
    (
        "xhtml",
        f'<svg {SVG_NS}><h:script xmlns:h="http://www.w3.org/1999/xhtml">x</h:script></svg>',
        "outside SVG",
    ),
    ("event handler", f'<svg {SVG_NS} onload="alert(1)"/>', "event handler"),
    (
        "image",
        f'<svg {SVG_NS}><image href="data:image/png;base64,iVBORw0KGgo=" width="1" height="1"/></svg>',
        "<image>",
    ),
    (
        "external href",
        f'<svg {SVG_NS} {XLINK}><use xlink:href="http://evil/x.svg#a"/></svg>',
        "outside the logo",
    ),
    ("file href", f'<svg {SVG_NS}><use href="file:///etc/passwd"/></svg>', "outside the logo"),
    ("external url", f'<svg {SVG_NS}><rect fill="url(http://evil/g)" width="1" height="1"/></svg>', "url()"),
    (
        "external url in css",
        f'<svg {SVG_NS}><rect style="fill:url( \'https://e/\' )" width="1"/></svg>',
        "url()",
    ),
    ("unclosed url", f'<svg {SVG_NS}><rect fill="url(#a" width="1"/></svg>', "does not close"),
    (
        "entity expansion",
        '<!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
        f"<svg {SVG_NS}><text>&b;&b;&b;</text></svg>",
        "DTD",
    ),
    ("external entity", f'<!DOCTYPE svg SYSTEM "http://evil/x.dtd"><svg {SVG_NS}/>', "DTD"),
    ("processing instruction", f'<?xml-stylesheet href="http://evil/x.css"?><svg {SVG_NS}/>', "processing"),
    ("not xml", "\x1f\x8b\x08\x00gzip", "well-formed"),
    ("not utf-8", f"<svg {SVG_NS}><text>\xff</text></svg>".encode("latin-1"), "well-formed"),
    ("not svg", '<html xmlns="http://www.w3.org/1999/xhtml"/>', "not an <svg>"),
    ("no namespace", "<svg/>", "not an <svg>"),
    ("too deep", nested(logos.MAX_DEPTH), "deeper"),
    ("too many elements", f"<svg {SVG_NS}>" + "<g/>" * logos.MAX_ELEMENTS + "</svg>", "elements"),
    ("too large", f"<svg {SVG_NS}><!--" + "x" * logos.MAX_BYTES + "--></svg>", "larger"),
    (
        "many uses",
        f"<svg {SVG_NS}><g id='a'/>" + "<use href='#a'/>" * (logos.MAX_USES + 1) + "</svg>",
        "<use>",
    ),
    (
        "use of a use",
        f"<svg {SVG_NS}><g id='a'><rect/></g><g id='b'><use href='#a'/><use href='#a'/></g>"
        "<use href='#b'/><use href='#b'/></svg>",
        "holds a <use>",
    ),
    ("use of itself", f"<svg {SVG_NS}><g id='a'><use href='#a'/></g></svg>", "holds a <use>"),
    ("duplicate ids", f"<svg {SVG_NS}><g id='a'/><g id='a'/></svg>", "one id"),
    ("many clip paths", f"<svg {SVG_NS}>" + "<clipPath/>" * (logos.MAX_CLIPS + 1) + "</svg>", "clip paths"),
    ("clip chain of 2 shapes, depth 7", clip_chain(7, 2), "127 clip-path applications"),
    (
        "clip path clipped by itself",
        f"<svg {SVG_NS}><clipPath id='c'><rect clip-path='url(#c)'/></clipPath>"
        "<rect clip-path='url(#c)'/></svg>",
        "cycle: a <clipPath>",
    ),
    (
        "clip path clipping itself",
        f"<svg {SVG_NS}><clipPath id='c' clip-path='url(#c)'><rect/></clipPath>"
        "<rect clip-path='url(#c)'/></svg>",
        "cycle",
    ),
    (
        "use of a clipped clip path",
        f"<svg {SVG_NS}><clipPath id='c'><use href='#u'/></clipPath>"
        "<g id='u' clip-path='url(#c)'><rect/></g></svg>",
        "cycle: a <g>",
    ),
    (
        "clip-path in css",
        f"<svg {SVG_NS}><style>rect {{ clip-path: url(#c) }}</style></svg>",
        "clip-path in a <style>",
    ),
    (
        "many large clipped shapes",
        f"<svg {SVG_NS}><clipPath id='c'><rect {BIG}/></clipPath>"
        + f"<rect clip-path='url(#c)' {BIG}/>" * 40
        + "</svg>",
        "40 clip-path applications",
    ),
    (
        "clipped group drawn by 16 uses",
        f"<svg {SVG_NS}><clipPath id='c'><rect/></clipPath><g id='a'>"
        + "<rect clip-path='url(#c)'/>" * 3
        + "</g>"
        + "<use href='#a'/>" * 16
        + "</svg>",
        "51 clip-path applications",
    ),
    (
        "layers drawn by 16 uses",
        f"<svg {SVG_NS}><g id='a'>"
        + f"<rect opacity='.5' {BIG}/>" * 20
        + "</g>"
        + "<use href='#a'/>" * 16
        + "</svg>",
        "340 layers",
    ),
    (
        "layers from css",
        f"<svg {SVG_NS}><style>rect {{ opacity: .5 }}</style><g id='a'>"
        + "<rect/>" * 20
        + "</g>"
        + "<use href='#a'/>" * 16
        + "</svg>",
        "374 layers",
    ),
    (
        "dash pattern",
        f'<svg {SVG_NS}><path d="M0 0H9e4" stroke="#000" stroke-dasharray="0.001"/></svg>',
        "dasharray",
    ),
    (
        "huge stroke",
        f'<svg {SVG_NS}><path d="M0 0L1 1" stroke="#000" stroke-width="1e30"/></svg>',
        "number 1e30",
    ),
    ("huge coordinate", f'<svg {SVG_NS}><path d="M0 0L1e999 1"/></svg>', "number 1e999"),
    ("huge font in css", f'<svg {SVG_NS}><text style="font-size:99999999px">x</text></svg>', "number"),
    ("huge transform", f'<svg {SVG_NS}><g transform="scale(1000000)"/></svg>', "number"),
    ("huge width", f'<svg {SVG_NS} width="20000" height="1"/>', "width"),
    ("width in inches", f'<svg {SVG_NS} width="100in" height="1"/>', "width"),
    ("huge viewBox", f'<svg {SVG_NS} viewBox="0 0 50000 1"/>', "viewBox"),
    ("empty viewBox", f'<svg {SVG_NS} viewBox="0 0 0 1"/>', "viewBox"),
    ("bad viewBox", f'<svg {SVG_NS} viewBox="0 0 a b"/>', "viewBox"),
]


@pytest.mark.parametrize("svg,reason", [case[1:] for case in HOSTILE], ids=[case[0] for case in HOSTILE])
def test_hostile_logos_are_refused(svg: str | bytes, reason: str) -> None:
    with pytest.raises(logos.Refused, match=reason.replace("(", r"\(").replace(")", r"\)")):
        logos.check(svg if isinstance(svg, bytes) else svg.encode())


@pytest.mark.parametrize("depth", range(5, 9))
@pytest.mark.parametrize("fan_out", range(4, 11))
def test_clip_chains_are_refused_for_their_cost(depth: int, fan_out: int) -> None:
    """Issue 17: a few KB of nested clip paths ask resvg for fan_out ** depth draws."""
    clips = sum(fan_out**level for level in range(depth))  # clip path n is applied fan_out ** n times
    with pytest.raises(logos.Refused, match=f"to draw .*\\({clips:,} clip-path applications"):
        logos.check(clip_chain(depth, fan_out).encode())


def test_a_logo_is_counted_at_its_cost_limit() -> None:
    """31 large clipped shapes (~160 ms at scale 4) are the most a logo may cost: one more is refused."""
    clip = f"<clipPath id='c'><rect {BIG}/></clipPath>"
    shapes = logos.MAX_COST // (1 + drawcost.CLIP + 1)  # each: itself, its clip, the clip path's shape
    assert shapes == 31
    fits = f"<svg {SVG_NS}>{clip}" + f"<rect clip-path='url(#c)' {BIG}/>" * shapes + "</svg>"
    logos.check(fits.encode())
    with pytest.raises(logos.Refused, match=f"{shapes + 1} clip-path applications"):
        logos.check(fits.replace("</svg>", f"<rect clip-path='url(#c)' {BIG}/></svg>").encode())


def data_url(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def test_a_refused_logo_is_dropped_and_the_badge_drawn_without_it() -> None:
    accepted = parse(b"/v/twisted/badge.png", {"logo": data_url(PYTHON)})
    refused = parse(b"/v/twisted/badge.png", {"logo": data_url(TURBULENCE), "label": "x"})
    assert accepted is not None and accepted.logo == data_url(PYTHON)
    assert refused is not None and refused.logo is None and refused.label == "x"


def test_a_logo_checked_again_gets_the_same_verdict_without_being_parsed_again(monkeypatch) -> None:
    hostile = clip_chain(6, 9).encode() + b"<!-- once -->"
    with pytest.raises(logos.Refused, match="clip-path applications") as first:
        logos.check(hostile)
    logos.check(PYTHON.encode())
    monkeypatch.setattr(logos, "_parse", lambda svg: pytest.fail("parsed again"))
    with pytest.raises(logos.Refused) as again:
        logos.check(hostile)
    assert str(again.value) == str(first.value)
    logos.check(PYTHON.encode())
