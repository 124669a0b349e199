"""README.md stays true: every option, every badge URL name and every module of the package is documented."""

import re

import pytest

from pypipin.badges.formats import FORMATS
from pypipin.badges.kinds import ORIGINAL_NAMES, SHIELDS_NAMES
from pypipin.badges.parsing import STYLES
from pypipin.options import Options
from tests.support.processes import ROOT

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


def layout_entries() -> set[str]:
    """The paths README's layout section names: each entry's first word, under the folders it sits in."""
    section = README.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    entries: set[str] = set()
    folders: list[tuple[int, str]] = []
    for line in section.splitlines():
        indent = len(line) - len(line.lstrip())
        if not line.strip() or not 4 <= indent < 30:  # prose, or a description's next line
            continue
        name = line.split()[0]
        folders = [(depth, folder) for depth, folder in folders if depth < indent]
        path = (folders[-1][1] if folders else "") + name
        entries.add(path)
        if name.endswith("/"):
            folders.append((indent, path))
    return entries


def test_layout_lists_every_module() -> None:
    modules = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "pypipin").rglob("*.py")
        if "node_modules" not in path.parts
    }
    listed = {entry for entry in layout_entries() if entry.startswith("pypipin/")}
    folders = {entry for entry in listed if entry.endswith("/")}
    # a folder's line stands for its __init__.py
    assert modules - listed - {folder + "__init__.py" for folder in folders} == set(), "missing from README"
    assert {entry for entry in listed - folders if entry not in modules} == set(), "not in pypipin/"
    assert {folder for folder in folders if not (ROOT / folder).is_dir()} == set(), "not in pypipin/"
