"""The home page in memory: generated from the registry, every kind, style, format, colour and period
offered and documented, and what its script sends honoured by the server."""

import json

from pypipin.badges.formats import FORMATS
from pypipin.badges.kinds import KINDS, ORIGINAL_NAMES, SHIELDS_NAMES
from pypipin.badges.parsing import NAMED_COLORS, STYLES, parse
from pypipin.badges.rules import FRAMEWORKS, PERIODS, TOTAL
from pypipin.web import home
from tests.support.homepage import OUTLINE, PAGE, Outline


def test_every_kind_has_a_title_and_a_one_line_description() -> None:
    for kind in KINDS.values():
        assert kind.title and kind.description and "\n" not in kind.description, kind.name


def test_a_card_per_kind_listing_every_url_name() -> None:
    assert list(OUTLINE.cards) == list(KINDS)
    for table in (ORIGINAL_NAMES, SHIELDS_NAMES):
        for name, (kind, _) in table.items():
            assert any(code == name or code.startswith(name + "/") for code in OUTLINE.cards[kind]), (
                kind,
                name,
            )
    assert "<code>frameworkversions/&lt;framework&gt;</code>" in PAGE


def test_every_style_format_colour_and_period_is_offered_and_documented() -> None:
    assert OUTLINE.options["style"] == list(STYLES)
    assert OUTLINE.options["format"] == [fmt for fmt in FORMATS if fmt != "json"]
    assert OUTLINE.options["period"] == [*PERIODS, TOTAL]
    assert OUTLINE.options["framework"] == list(FRAMEWORKS)
    assert OUTLINE.options["index"] == ["pypi"]
    assert Outline(home.page(["pypi", "corp"]).decode()).options["index"] == ["pypi", "corp"]
    assert OUTLINE.options["colors"] == sorted(NAMED_COLORS)
    for value in [*FORMATS, *STYLES, *NAMED_COLORS, *PERIODS, TOTAL]:
        assert value in OUTLINE.codes, value


def test_registry_blob_parses_and_matches_the_registry() -> None:
    raw = OUTLINE.scripts["registry"]
    assert not set(raw) & set("<>&")
    blob = json.loads(raw)
    assert blob == home.registry()
    assert [kind["name"] for kind in blob["kinds"]] == list(KINDS)
    assert [kind["label"] for kind in blob["kinds"]] == [kind.label for kind in KINDS.values()]
    assert blob["original"] == {
        name: {"kind": kind, "fixed": fixed} for name, (kind, fixed) in ORIGINAL_NAMES.items()
    }
    assert blob["shields"] == {
        name: {"kind": kind, "fixed": fixed} for name, (kind, fixed) in SHIELDS_NAMES.items()
    }
    assert blob["styles"] == list(STYLES) and blob["colors"] == sorted(NAMED_COLORS)
    assert set(blob["formats"]) == set(FORMATS) - {"json"} and set(blob["rasters"]) < set(blob["formats"])
    options = {kind["name"]: kind["options"] for kind in blob["kinds"]}
    assert options["downloads"] == ["period"] and options["framework_versions"] == ["framework"]
    assert options["version"] == ["include_prereleases"]


def test_script_json_cannot_end_its_script() -> None:
    value = {"a": "</script><!-- <script>&amp;", "b": ["\u2028", ">"]}
    text = home.script_json(value)
    assert not set(text) & set("<>&")
    assert json.loads(text) == value


# one path and value per documented parameter; each must change what the server parses
EXAMPLES = {
    "style": (b"/v/demo/badge.svg", "social"),
    "label": (b"/v/demo/badge.svg", "release"),
    "text": (b"/v/demo/badge.svg", "release"),
    "color": (b"/v/demo/badge.svg", "orange"),
    "colorB": (b"/v/demo/badge.svg", "4c1"),
    "labelColor": (b"/v/demo/badge.svg", "blue"),
    "colorA": (b"/v/demo/badge.svg", "#123"),
    "period": (b"/d/demo/badge.svg", "week"),
    "include_prereleases": (b"/v/demo/badge.svg", ""),
    "scale": (b"/v/demo/badge.png", "2"),
    "cacheSeconds": (b"/v/demo/badge.svg", "86400"),
}


def test_every_documented_parameter_is_honoured_by_the_server() -> None:
    documented = [name for parameter in home.parameters() for name in parameter.names]
    assert sorted(documented) == sorted(EXAMPLES)
    for name, (path, value) in EXAMPLES.items():
        assert parse(path, {name: value}) != parse(path, {}), name
        assert f"<code>{name}</code>" in PAGE


# Browser -------------------------------------------------------------------------------------
