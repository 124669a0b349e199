"""Badge URLs parsed into requests: both URL forms, names, and query parameters."""

import pytest

from pypipin.request import parse, query


def test_original_form() -> None:
    wanted = parse(b"/v/Twisted/badge.svg", {})
    assert wanted is not None
    assert (wanted.kind.name, wanted.name, wanted.package, wanted.format) == ("version", "Twisted", "twisted", "svg")


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
    [b"/nope/twisted/badge.svg", b"/v/twisted/badge.bmp", b"/v/twisted/image.svg", b"/v/twisted", b"/",
     b"/v/twisted/badge.svg/extra", b"/pypi/egg/twisted", b"/pypi/v", b"/pypi/frameworkversions/twisted",
     b"/pypi/frameworkversions/flask/demo", b"/pypi/frameworkversions/Django%20CMS/demo",
     b"/pypi/frameworkversions/django%2Dcms%00/demo",
     b"/v/%ff/badge.svg"],
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
        {"style": "for-the-badge", "period": "week", "label": "dl", "color": "4C1", "labelColor": "#abcdef",
         "cacheSeconds": "7200", "scale": "3"},
    )
    assert wanted is not None
    assert (wanted.style, dict(wanted.options), wanted.label, wanted.color, wanted.label_color) == (
        "for-the-badge", {"period": "week"}, "dl", "#44cc11", "#abcdef")
    assert (wanted.cache_seconds, wanted.scale) == (7200, 1)  # no scale for SVG
    assert parse(b"/d/twisted/badge.png", {"scale": "3"}).scale == 3  # type: ignore[union-attr]


def test_bad_values_fall_back_to_defaults() -> None:
    wanted = parse(
        b"/d/twisted/badge.svg",
        {"style": "neon", "period": "decade", "label": "x" * 500, "color": "not-a-colour", "cacheSeconds": "-5",
         "scale": "9", "logo": "javascript:alert(1)"},
    )
    assert wanted is not None
    assert (wanted.style, wanted.options, wanted.label, wanted.color, wanted.cache_seconds, wanted.scale, wanted.logo) == (
        "flat", (), None, None, 0, 1, None)


def test_text_is_the_label_and_legacy_colours() -> None:
    wanted = parse(b"/v/twisted/badge.svg", {"text": "version", "colorA": "red", "colorB": "Blue"})
    assert wanted is not None and (wanted.label, wanted.label_color, wanted.color) == ("version", "red", "blue")


def test_query_decodes_bad_utf8_and_takes_first_value() -> None:
    assert query(b"label=%ff&label=second&flag&a+b=c+d&=x") == {"label": "\ufffd", "flag": "", "a b": "c d"}


def test_query_reads_a_bounded_number_of_parameters() -> None:
    assert len(query(b"&".join(b"k%d=v" % n for n in range(10000)))) == 32


@pytest.mark.parametrize("one, other", [("4c1", "#44cc11"), ("#4C1", "44CC11"), ("grey", "gray"),
                                         ("lightgrey", "LightGray"), ("red", "critical"), ("blue", "informational")])
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
