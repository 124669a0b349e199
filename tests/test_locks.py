"""The locks: pinned with hashes, the test lock keeps the service pins, setup.py's ranges, this venv."""

import re
from importlib import metadata

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.processes import ROOT

PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def pins(name: str) -> dict[str, str]:
    """The lock's exact versions that apply to this interpreter, by normalised name."""
    found = {}
    for line in (ROOT / name).read_text().splitlines():
        match = PIN.match(line)
        if match and (match[3] is None or Marker(match[3]).evaluate()):
            found[canonicalize_name(match[1])] = match[2]
    return found


def hashed(name: str) -> bool:
    """Every requirement of the lock carries at least one sha256."""
    text = (ROOT / name).read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    return all("--hash=sha256:" in entry for entry in entries if entry.strip())


def setup_requirements(extra: str | None = None) -> list[Requirement]:
    text = (ROOT / "setup.py").read_text()
    block = (
        text.split("install_requires=[", 1)[1].split("]", 1)[0]
        if extra is None
        else text.split(f'"{extra}": [', 1)[1].split("]", 1)[0]
    )
    return [Requirement(each) for each in re.findall(r'"([^"]+)"', block)]


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-test.lock"])
def test_locks_pin_with_hashes(lock: str) -> None:
    assert hashed(lock)
    assert len(pins(lock)) > 10


def test_the_test_lock_keeps_the_service_pins() -> None:
    service, test = pins("requirements.lock"), pins("requirements-test.lock")
    assert {name: test.get(name) for name in service} == service


@pytest.mark.parametrize("extra", [None, "test"])
def test_locks_satisfy_setup_ranges(extra: str | None) -> None:
    locked = pins("requirements.lock" if extra is None else "requirements-test.lock")
    for requirement in setup_requirements(extra):
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is in setup.py but not locked: run scripts/lock"
        assert requirement.specifier.contains(locked[name]), (name, locked[name], str(requirement.specifier))
        for extra_name in requirement.extras:  # twisted[tls]: its extra's packages are locked too
            for needed in metadata.requires(requirement.name) or []:
                wanted = Requirement(needed)
                if (
                    wanted.marker
                    and wanted.marker.evaluate({"extra": extra_name})
                    and not wanted.marker.evaluate({"extra": ""})
                ):
                    assert canonicalize_name(wanted.name) in locked, wanted.name


def test_this_venv_runs_the_locked_versions() -> None:
    """scripts/test installed exactly the lock's versions (the suite runs in that venv)."""
    locked = pins("requirements-test.lock")
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    assert {name: installed.get(name) for name in locked} == locked
