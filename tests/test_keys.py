"""pypipin.data.keys: every stored key made in one place, spelt as the daemons of a fleet (and of the
last release) spell it."""

import pytest

from pypipin.data import keys
from pypipin.upstream.indexes import named
from tests.support.renders import SPEC
from tests.support.stack import Stack

DIGEST = "3b13116109465e4396c3a67d2b12a58863d0fc5bd73959cf2bdd67d80d905d05"  # sha256 of SPEC's sorted JSON


def test_each_key_is_spelt_as_stored_before() -> None:
    """Literal keys: a change here is a change to what Redis holds, for every daemon sharing it."""
    assert keys.package("pypi", "twisted") == "pypipin:2:pypi:twisted"
    assert keys.package("stats", "twisted") == "pypipin:2:stats:twisted"
    assert keys.package("corp", "klein") == "pypipin:2:corp:klein"
    assert keys.image(SPEC) == "pypipin:2:img:" + DIGEST
    assert keys.image(dict(reversed(SPEC.items()))) == keys.image(SPEC)  # by what is drawn, not by its order
    assert keys.image({**SPEC, "scale": 2}) != keys.image(SPEC)
    assert keys.lock("pypipin:2:pypi:twisted") == "pypipin:2:pypi:twisted:lock"


def test_the_store_holds_only_keys_made_here() -> None:
    """A badge answered through the whole app leaves its data and images under these keys, and no lock."""
    stack = Stack()
    stack.upstream.add("demo")
    assert stack.get("/v/demo/badge.svg").code == 200
    assert stack.get("/pypi/dm/demo").code == 200
    stored = set(stack.store.lru)
    drawn = {keys.image(spec) for spec in stack.renderer.calls}
    assert stored == {"pypipin:2:pypi:demo", "pypipin:2:stats:demo"} | drawn
    assert len(drawn) == 2


@pytest.mark.parametrize("name", sorted(keys.NOT_INDEX_NAMES))
def test_no_index_may_share_the_keys_of_counts_or_images(name: str) -> None:
    with pytest.raises(ValueError, match="reserved"):
        named(name, "https://pypi.example/pypi")
    assert named(name + "x", "https://pypi.example/pypi").name == name + "x"
