"""Badge URLs parsed into requests: both URL forms, names, and query parameters."""

import base64
import re
from pathlib import Path

import pytest

from pypipin.badges.kinds import KINDS
from pypipin.badges.parsing import PARAMETERS, key, parse, query
from pypipin.upstream.indexes import Index, configured

# a logo that passes logos.check (its base64 ends in "=")
LOGO = (
    "data:image/svg+xml;base64,"
    + base64.b64encode(
        b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><rect width="8" height="8" fill="#fb0"/>'
        b"</svg>"
    ).decode()
)


def test_original_form() -> None:
    wanted = parse(b"/v/Twisted/badge.svg", {})
    assert wanted is not None
    assert (wanted.kind.name, wanted.name, wanted.package, wanted.format) == (
        "version",
        "Twisted",
        "twisted",
        "svg",
    )


@pytest.mark.parametrize("name", ["Django", "django", "DJANGO"])
def test_names_are_normalised(name: str) -> None:
    wanted = parse(f"/d/{name}/badge.png".encode(), {})
    assert wanted is not None and wanted.package == "django" and wanted.format == "png"


def test_separators_are_normalised() -> None:
    dotted = parse(b"/wheel/zope.interface/badge.svg", {})
    dashed = parse(b"/wheel/Zope_Interface/badge.svg", {})
    assert dotted is not None and dashed is not None
    assert dotted.package == dashed.package == "zope-interface"


@pytest.mark.parametrize(
    "path",
    [
        b"/nope/twisted/badge.svg",
        b"/v/twisted/badge.bmp",
        b"/v/twisted/image.svg",
        b"/v/twisted",
        b"/",
        b"/v/twisted/badge.svg/extra",
        b"/pypi/egg/twisted",
        b"/pypi/v",
        b"/pypi/frameworkversions/twisted",
        b"/pypi/frameworkversions/flask/demo",
        b"/pypi/frameworkversions/Django%20CMS/demo",
        b"/pypi/frameworkversions/django%2Dcms%00/demo",
        b"/v/%ff/badge.svg",
    ],
)
def test_not_a_badge(path: bytes) -> None:
    assert parse(path, {}) is None


@pytest.mark.parametrize("name", ["-bad", "bad-", "a b", "x" * 201, "..", "a/b", "caf\u00e9", "<script>"])
def test_invalid_names_are_requests_with_no_package(name: str) -> None:
    from urllib.parse import quote

    wanted = parse(b"/v/" + quote(name, safe="").encode() + b"/badge.svg", {})
    assert wanted is not None and wanted.package is None and wanted.name == name


def test_shields_form_with_and_without_extension() -> None:
    plain = parse(b"/pypi/v/zope.interface", {})
    svg = parse(b"/pypi/v/zope.interface.svg", {})
    png = parse(b"/pypi/dm/requests.PNG", {})
    assert plain is not None and svg is not None and png is not None
    assert (plain.package, plain.format) == (svg.package, svg.format) == ("zope-interface", "svg")
    assert (png.kind.name, dict(png.options), png.format) == ("downloads", {"period": "month"}, "png")


def test_framework_from_path() -> None:
    wanted = parse(b"/pypi/frameworkversions/django-cms/djangocms-text.json", {})
    assert wanted is not None
    assert dict(wanted.options) == {"framework": "django-cms"} and wanted.format == "json"
    assert wanted.kind.label_for(dict(wanted.options)) == "django cms versions"
    upper = parse(b"/pypi/frameworkversions/JupyterLab/jupyterlab-git", {})
    assert upper is not None and dict(upper.options) == {"framework": "jupyterlab"}
    dj = parse(b"/djversions/django-debug-toolbar/badge.svg", {})
    assert dj is not None and dict(dj.options) == {"framework": "django"}


def test_query_parameters() -> None:
    wanted = parse(
        b"/d/twisted/badge.svg",
        {
            "style": "for-the-badge",
            "period": "week",
            "label": "dl",
            "color": "4C1",
            "labelColor": "#abcdef",
            "cacheSeconds": "7200",
            "scale": "3",
        },
    )
    assert wanted is not None
    assert (wanted.style, dict(wanted.options), wanted.label, wanted.color, wanted.label_color) == (
        "for-the-badge",
        {"period": "week"},
        "dl",
        "#44cc11",
        "#abcdef",
    )
    assert (wanted.cache_seconds, wanted.scale) == (7200, 1)  # no scale for SVG
    assert parse(b"/d/twisted/badge.png", {"scale": "3"}).scale == 3  # type: ignore[union-attr]


def test_bad_values_fall_back_to_defaults() -> None:
    wanted = parse(
        b"/d/twisted/badge.svg",
        {
            "style": "neon",
            "period": "decade",
            "label": "x" * 500,
            "color": "not-a-colour",
            "cacheSeconds": "-5",
            "scale": "9",
            "logo": "javascript:alert(1)",
        },
    )
    assert wanted is not None
    assert (
        wanted.style,
        wanted.options,
        wanted.label,
        wanted.color,
        wanted.cache_seconds,
        wanted.scale,
        wanted.logo,
    ) == ("flat", (), None, None, 0, 1, None)


def test_text_is_the_label_and_legacy_colours() -> None:
    wanted = parse(b"/v/twisted/badge.svg", {"text": "version", "colorA": "red", "colorB": "Blue"})
    assert wanted is not None and (wanted.label, wanted.label_color, wanted.color) == (
        "version",
        "red",
        "blue",
    )


def test_query_decodes_bad_utf8_and_takes_first_value() -> None:
    assert query(b"label=%ff&label=second&flag&a+b=c+d&=x") == {"label": "\ufffd", "flag": "", "a b": "c d"}


def test_query_reads_a_bounded_number_of_parameters() -> None:
    assert len(query(b"&".join(b"k%d=v" % n for n in range(10000)))) == 32


@pytest.mark.parametrize(
    "one, other",
    [
        ("4c1", "#44cc11"),
        ("#4C1", "44CC11"),
        ("grey", "gray"),
        ("lightgrey", "LightGray"),
        ("red", "critical"),
        ("blue", "informational"),
    ],
)
def test_colour_synonyms_are_one_colour(one: str, other: str) -> None:
    first, second = (parse(b"/v/twisted/badge.svg", {"color": c, "labelColor": c}) for c in (one, other))
    assert first is not None and second is not None
    assert (first.color, first.label_color) == (second.color, second.label_color)


def test_format_synonyms_and_scale_make_one_image_key() -> None:
    jpg, jpeg = parse(b"/v/twisted/badge.jpg", {"scale": "2"}), parse(b"/pypi/v/twisted.jpeg", {"scale": "2"})
    assert jpg is not None and jpeg is not None and jpg.format == jpeg.format == "jpeg" and jpg.scale == 2
    for path in (b"/v/twisted/badge.svg", b"/v/twisted/badge.json"):
        scaled, plain = parse(path, {"scale": "4"}), parse(path, {})
        assert scaled == plain


BADGE = b"/v/demo/badge.svg"


def hot_key(path: bytes, raw: bytes, indexes: dict[str, Index] | None = None) -> bytes:
    wanted = parse(path, query(raw), indexes)
    assert wanted is not None
    return key(path, wanted)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"x=1",
        b"style=flat",
        b"style=junk",
        b"scale=9",
        b"cacheSeconds=-1",
        b"color=nope",
        b"label=%01",
        b"logo=data:image/png;base64,AA",
        b"index=pypi",
        b"utm_source=readme&utm_medium=x&fbclid=1",
    ],
)
def test_what_no_badge_reads_leaves_the_key_alone(raw: bytes) -> None:
    assert hot_key(BADGE, raw) == BADGE


@pytest.mark.parametrize(
    "raw",
    [
        b"text=+docs+&colorB=Green&colorA=ABC",
        b"labelColor=%23aabbcc&color=green&label=docs",
        b"x=1&color=green&label=docs&labelColor=aabbcc&label=other&y",
    ],
)
def test_every_spelling_of_a_badge_has_one_key(raw: bytes) -> None:
    assert hot_key(BADGE, raw) == BADGE + b"?color=green&label=docs&labelColor=%23aabbcc"


@pytest.mark.parametrize(
    "path, raw",
    [
        (b"/pypi/pyversions/demo.png", b"style=plastic&scale=2&cacheSeconds=3600&index=nope"),
        (b"/pypi/v/demo", b"include_prereleases&label=a%26b%3Dc"),
        (b"/pypi/dm/demo", b"period=week"),  # a fixed option wins over the query's, and is no part of it
        (b"/d/demo/badge.svg", b"period=week&x=2"),
        (b"/pypi/frameworkversions/django/demo", b"framework=flask"),
        (b"/v/demo/badge.svg", b"logo=" + LOGO.encode()),
    ],
)
def test_a_key_is_its_own_key_and_the_same_badge(path: bytes, raw: bytes) -> None:
    indexes = configured("https://pypi.org/pypi", [])
    first = hot_key(path, raw, indexes)
    again_path, _, again_raw = first.partition(b"?")
    assert hot_key(again_path, again_raw, indexes) == first
    assert parse(again_path, query(again_raw), indexes) == parse(path, query(raw), indexes)


def test_flags_and_fixed_options_keep_a_plain_url_its_own_key() -> None:
    assert hot_key(b"/pypi/v/demo", b"include_prereleases") == b"/pypi/v/demo?include_prereleases"
    assert hot_key(b"/pypi/dm/demo", b"") == b"/pypi/dm/demo"
    assert hot_key(b"/pypi/frameworkversions/django/demo", b"") == b"/pypi/frameworkversions/django/demo"
    assert hot_key(BADGE, b"index=nope") == BADGE + b"?index"  # any index not configured


def test_varnish_keeps_the_parameters_badges_read() -> None:
    vcl = (Path(__file__).parent.parent / "conf" / "varnish-badges.vcl").read_text()
    kept = re.search(r'"&\(\?!\((.*?)\)\(\[=&\]\|\$\)\)', vcl.replace('"\n            + "', ""))
    assert kept is not None
    read = {option for kind in KINDS.values() for option in kind.query} | set(PARAMETERS)
    assert sorted(kept.group(1).split("|")) == sorted(read)
