"""Every test of tests/system/ starts real processes: each is marked ``processes``."""

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents and not item.get_closest_marker("processes"):
            item.add_marker(pytest.mark.processes)
