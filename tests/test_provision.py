"""The renderer's npm packages and node, in memory: the node versions, checks that name what is wrong
and the fix, the per-user directory."""

import re
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor

from pypipin.renderer.provision import (
    SHIELDS_DIR,
    NotReady,
    check_dir,
    check_node_version,
    default_dir,
    install,
    manifest,
    node_versions,
)
from tests.support.processes import ROOT
from tests.support.renders import fill

ENGINES = manifest()["engines"]["node"]


def test_engines_is_the_one_statement_of_the_node_version() -> None:
    assert str(node_versions()) == ENGINES
    for path in [
        ROOT / "README.md",
        ROOT / "scripts" / "setup.sh",
        ROOT / ".ci" / "run",
        *ROOT.glob("conf/*"),
    ]:
        for stated in re.findall(r"Node\.js ([<>=~^]*\s*v?\d[\w.]*\+?)", path.read_text()):
            assert stated == ENGINES, (path.name, stated)
    assert f"Node.js {ENGINES}" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize(
    ("output", "cause"),
    [
        ("v18.19.0\n", "too old"),
        ("v20.8.1", "too old"),
        ("bash 5.2", "not a Node.js version"),
        ("", "not a Node.js"),
    ],
)
def test_node_versions_refused(output: str, cause: str) -> None:
    with pytest.raises(NotReady, match=cause) as refused:
        check_node_version("/usr/local/bin/node", output)
    assert "--node" in str(refused.value)


def test_node_versions_accepted() -> None:
    assert check_node_version("node", "v20.9.0\n") == "20.9.0"
    assert check_node_version("node", "v24.1.0") == "24.1.0"


def test_check_dir_names_what_is_wrong_and_the_fix(tmp_path: Path) -> None:
    lock = (SHIELDS_DIR / "package-lock.json").read_bytes()
    names = sorted(manifest()["dependencies"])
    cases = [
        (tmp_path / "absent", "is not provisioned"),
        (fill(tmp_path / "other", b"{}", names), "another pypipin version"),
        (fill(tmp_path / "partial", lock, names[1:]), f"npm packages missing in .*\\({names[0]}\\)"),
    ]
    for directory, cause in cases:
        with pytest.raises(NotReady, match=cause) as refused:
            check_dir(directory)
        assert f"pypipin renderer install --dir {directory}" in str(refused.value)
    check_dir(fill(tmp_path / "whole", lock, names))


def test_default_dir_is_per_user_and_keyed_by_the_lock(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = default_dir()
    assert first.parent == tmp_path / "pypipin" / "renderer" and len(first.name) == 16
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_dir() == tmp_path / "home" / ".cache" / "pypipin" / "renderer" / first.name


@pytest_twisted.ensureDeferred
async def test_missing_npm_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(NotReady, match="npm not found"):
        await install(reactor, tmp_path / "r", str(tmp_path / "node"))
    assert not (tmp_path / "r").exists()
