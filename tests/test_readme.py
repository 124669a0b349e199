"""README.md stays true: every option and every badge URL name is documented."""

import re

import pytest

from tests.support.processes import ROOT
from pypipin.badges.kinds import ORIGINAL_NAMES, SHIELDS_NAMES
from pypipin.options import Options
from pypipin.badges.parsing import FORMATS, STYLES

README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("option", [name for name, *_ in Options.optParameters])
def test_every_option_is_documented(option: str) -> None:
    assert f"`--{option}`" in README


@pytest.mark.parametrize("name", sorted(ORIGINAL_NAMES))
def test_every_original_badge_name_has_an_example(name: str) -> None:
    assert re.search(rf"`/{name}/[\w.-]+/badge\.svg", README)


@pytest.mark.parametrize("name", sorted(SHIELDS_NAMES))
def test_every_shields_name_has_an_example(name: str) -> None:
    assert f"`/pypi/{name}/" in README


@pytest.mark.parametrize("value", sorted(FORMATS) + list(STYLES))
def test_every_format_and_style_is_documented(value: str) -> None:
    assert f"`{value}`" in README


def test_the_two_commands_are_there() -> None:
    assert "\n    ./scripts/run\n" in README and "\n    ./scripts/test\n" in README
