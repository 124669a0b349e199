"""Helpers shared by the test modules (no test module imports another)."""

import json
from typing import Any

from twisted.internet import defer

from pypipin.badges import KINDS
from pypipin.renderer import RendererDown, RenderFailed

# one pypip.in URL name of every badge
BADGE_NAMES = [next(iter(kind.original)) for kind in KINDS.values()]


class FakeRenderer:
    """Stands in for the Node renderer in memory: an image is the spec it was drawn from, as JSON.

    ``calls`` lists the specs drawn; ``refuse`` is a message no spec may carry (a refusal,
    as node refuses a bad logo); ``down`` makes every render fail as a dead renderer does;
    ``hold`` (a Deferred) keeps renders waiting until it fires.
    """

    wait = 5.0

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.refuse: str | None = None
        self.down = False
        self.hold: defer.Deferred[None] | None = None

    async def render(self, spec: dict[str, Any]) -> bytes:
        self.calls.append(spec)
        if self.hold is not None:
            await self.hold
        if self.down:
            raise RendererDown("connection refused")
        if self.refuse is not None and spec["message"] == self.refuse:
            raise RenderFailed("refused")
        return drawn(spec)

    async def healthy(self) -> bool:
        return not self.down

    def problem(self) -> str | None:
        """Why it cannot start at all: never, for this stand-in."""
        return None


def drawn(spec: dict[str, Any]) -> bytes:
    """The bytes ``FakeRenderer`` draws for ``spec``."""
    return json.dumps(spec, sort_keys=True).encode()
