"""Badge images: cached, single-flighted renders, the renderer-side twin of packages.py."""

import hashlib
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from pypipin.badges.lifetimes import IMAGE_TTL
from pypipin.badges.parsing import BadgeRequest
from pypipin.data import keys
from pypipin.data.singleflight import SingleFlight, across_processes
from pypipin.limits.slots import Slots
from pypipin.metrics import Counters
from pypipin.renderer.drawing import Abandoned, RenderFailed
from pypipin.store.lru import LRU
from pypipin.store.memory import Store, store_layer

log = Logger()


class Drawer(Protocol):
    """A badge renderer: ``renderer.Renderer``, or a stand-in in tests."""

    wait: float  # the longest a render may take, in seconds
    problem: Callable[[], str | None]  # why it cannot start (cause and fix), None when it can

    @property
    def slots(self) -> Slots | None:
        """Its renders at once (None: no limit), which the budgets read."""

    async def render(
        self, spec: dict[str, Any], spent: float = 0.0, wanted: Callable[[], bool] = lambda: True
    ) -> bytes:
        """The image; ``spent``: what its client drew lately, its place in the queue for a slot; Abandoned,
        unsent, when ``wanted()`` is false once its turn comes."""

    async def healthy(self) -> bool: ...


def seal(image: bytes) -> bytes:
    """An image as stored: prefixed with its own digest, so a corrupt or foreign value is seen."""
    return hashlib.sha256(image).digest()[:8] + image


def unseal(stored: bytes | None) -> bytes | None:
    if stored is None or len(stored) < 9 or hashlib.sha256(stored[8:]).digest()[:8] != stored[:8]:
        return None
    return stored[8:]


# how a client pays for a render: pay(draw) returns draw(spent)'s image once it is paid for (spent: what the
# client drew lately)
Payer = Callable[[Callable[[float], Awaitable[bytes]]], Awaitable[bytes]] | None


class Images:
    """Images by exactly what they show: from memory, then the shared store, then drawn once.

    A draw is one render however many requests want it: one per process
    (single-flight) and one across the daemons sharing the store. A draw whose requests all
    went away (cancelled, as Klein cancels a request whose connection is lost) before its turn
    in the client's queue came is never sent to the renderer.
    """

    def __init__(
        self, clock: IReactorTime, renderer: Drawer, store: Store, memory: LRU, counters: Counters
    ) -> None:
        self._clock = clock
        self._renderer = renderer
        self._store = store
        self._memory = memory
        self._counters = counters
        self._renders = SingleFlight()
        self._wanting: Counter[str] = Counter()  # requests waiting for each image being made

    async def draw(
        self,
        wanted: BadgeRequest,
        label: str,
        message: str,
        color: str,
        is_error: bool,
        reached: Callable[[str], None] | None = None,
        pay: Payer = None,
    ) -> bytes:
        """The badge's bytes in the format asked for; a spec the renderer refuses is drawn as "render error".

        ``reached`` is told which cache layer the image came from. A new render is made through
        ``pay`` (the client's budget), which may refuse it (OverBudget) or make it wait its turn.
        An image with the request's own label, colours or logo is kept in this process only, never
        in the shared store: anyone can ask for endless such images, and Redis must stay bounded.
        """
        if wanted.format == "json":
            return json.dumps(
                {"schemaVersion": 1, "label": label, "message": message, "color": color, "isError": is_error}
            ).encode()
        spec = {
            "label": label,
            "message": message,
            "color": color,
            "labelColor": wanted.label_color,
            "style": wanted.style,
            "format": wanted.format,
            "scale": wanted.scale,
            "logo": wanted.logo,
        }
        shared = not (wanted.label or wanted.color or wanted.label_color or wanted.logo)
        try:
            return await self.image(spec, reached, pay, shared)
        except RenderFailed as failure:
            log.error(
                "Renderer refused a {fmt} badge labelled {label!r}: {failure}",
                fmt=wanted.format,
                label=label[:80],
                failure=failure,
            )
            return await self.image(
                {
                    "label": label,
                    "message": "render error",
                    "color": "lightgrey",
                    "style": "flat",
                    "format": wanted.format,
                    "scale": 1,
                },
                reached,
            )

    async def image(
        self,
        spec: dict[str, Any],
        reached: Callable[[str], None] | None = None,
        pay: Payer = None,
        shared: bool = True,
    ) -> bytes:
        """The image ``spec`` describes; ``shared``: also kept in (and read from) the shared store."""
        key = keys.image(spec)
        kept: bytes | None = self._memory.get(key)
        self._counters.cache["images", "hit" if kept is not None else "miss"] += 1
        if kept is not None:
            found, layer = kept, "memory"
        else:
            self._wanting[key] += 1
            try:
                if shared:
                    found, layer = await self._renders.run(key, lambda: self._shared(key, spec, pay))
                else:
                    found, layer = await self._renders.run(key, lambda: self._render(key, spec, pay)), "miss"
            finally:
                self._wanting[key] -= 1
                if not self._wanting[key]:
                    del self._wanting[key]
            self._memory.set(key, found, IMAGE_TTL)
        if reached is not None:
            reached(layer)
        return found

    async def _shared(self, key: str, spec: dict[str, Any], pay: Payer) -> tuple[bytes, str]:
        """The image from the shared store, or drawn; with the layer it came from."""

        async def read() -> bytes | None:
            return unseal(await self._store.get(key))

        found = await read()
        self._counters.cache["store", "hit" if found is not None else "miss"] += 1
        if found is not None:
            return found, store_layer(self._store)
        return await across_processes(
            self._store,
            self._clock,
            key,
            read,
            lambda: self._render(key, spec, pay, store=True),
            self._renderer.wait + 1,
        ), "miss"

    async def _render(self, key: str, spec: dict[str, Any], pay: Payer, store: bool = False) -> bytes:
        async def draw(spent: float = 0.0) -> bytes:
            started = self._clock.seconds()
            try:  # a draw whose requests all went away before its turn came is not sent
                return await self._renderer.render(spec, spent, lambda: self._wanting[key] > 0)
            except Abandoned:
                raise
            except Exception:
                self._counters.renders["error"] += 1
                raise
            finally:
                self._counters.render_seconds.observe(self._clock.seconds() - started)

        try:  # paying may refuse the draw (OverBudget): no render, no render error
            image = await (pay(draw) if pay is not None else draw())
        except Abandoned:
            self._counters.renders["abandoned"] += 1
            raise
        self._counters.renders["ok"] += 1
        if store:
            await self._store.set(key, seal(image), IMAGE_TTL)
        return image
