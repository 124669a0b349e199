"""The Node badge renderer: its process, watched by procmon, and an HTTP client for it."""

import hashlib
import json
from collections.abc import Callable
from typing import Any

from twisted.internet import defer, error
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.web.client import RequestTransmissionFailed

from pypipin.badges.lifetimes import POISON_TTL
from pypipin.limits.slots import NoSlot, Slots
from pypipin.renderer.process import RENDERS
from pypipin.store.lru import LRU
from pypipin.upstream.http import client
from pypipin.waiting import sleep

log = Logger()


RENDER_DEADLINE = 4.0  # seconds one render may take in node (a normal one takes 5-50 ms)
QUEUE_WAIT = 1.0  # seconds a render may wait for one of the RENDERS slots
RETRY = 0.1
POISONS_KEPT = 10_000


class RendererDown(Exception):
    """The renderer did not answer within the wait allowed."""


class RendererBusy(RendererDown, NoSlot):
    """Every render slot stayed taken for as long as a render may wait for one."""


class RenderFailed(Exception):
    """The renderer answered with an error, or the spec is one it must not be sent again."""


class Abandoned(Exception):
    """Nobody wanted the image any more when its turn to be drawn came: it was not sent."""


class _NotDrawn(Exception):
    """Node did not take the spec (not listening, or at its own cap): try again shortly."""


def blamed(spec: dict[str, Any]) -> bytes:
    """What a death under ``spec`` is blamed on: its logo at its format and scale (texts and colours
    cost node little), or the whole spec when it has no logo."""
    if spec.get("logo"):
        spec = {"logo": spec["logo"], "format": spec.get("format"), "scale": spec.get("scale")}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).digest()


class Renderer:
    """Asks the renderer for images over keep-alive loopback HTTP, at most ``renders`` at once (its
    ``slots``: while all are taken, the draw whose client drew least goes first).

    A spec that overran the render deadline (node is then killed), or that node died under
    twice, is remembered and never sent again: it fails at once. A spec with a logo is
    remembered by its logo, format and scale (``blamed``), so a new label with that logo
    fails at once too. After a first death a spec is only a suspect (it may have shared the death
    with others, or met a node that was already gone), tried again while no other suspect is being drawn.
    """

    def __init__(
        self,
        reactor: IReactorTime,
        port: int,
        wait: float = QUEUE_WAIT + RENDER_DEADLINE,
        renders: int = RENDERS,
        deadline: float = RENDER_DEADLINE,
        queue_wait: float = QUEUE_WAIT,
        kill: Callable[[], None] = lambda: None,
        problem: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._http, self.pool = client(reactor, renders, 1)
        self.pool.retryAutomatically = False
        self.pool.cachedConnectionTimeout = 50  # node drops idle connections after 60 s
        self._reactor = reactor
        self.url = f"http://127.0.0.1:{port}"
        self.wait = wait
        self.deadline = deadline
        self._queue_wait = queue_wait
        self._kill = kill
        self.problem = problem
        self.slots = Slots(reactor, renders)
        self._suspects = defer.DeferredLock()
        self.in_flight = 0  # renders sent to node and not answered yet
        self._struck = LRU(reactor, POISONS_KEPT, POISONS_KEPT * 64)
        self._poisoned = LRU(reactor, POISONS_KEPT, POISONS_KEPT * 64)

    async def render(
        self, spec: dict[str, Any], spent: float = 0.0, wanted: Callable[[], bool] = lambda: True
    ) -> bytes:
        """The image drawn from ``spec``; waits up to ``wait`` seconds for a slot or a restarting renderer,
        in a slot's queue before the draws whose client spent more than ``spent`` lately. Abandoned,
        unsent, when ``wanted()`` is false once a slot is held.

        When the renderer cannot start at all (``problem``), RendererDown at once.
        """
        problem = self.problem()
        if problem is not None:
            raise RendererDown(problem)
        body = json.dumps(spec, sort_keys=True).encode()
        key = blamed(spec)
        give_up = self._reactor.seconds() + self.wait
        while True:
            if self._poisoned.get(key) is not None:
                raise RenderFailed("node died drawing this spec; it is not sent again")
            try:
                image = await self._attempt(key, body, give_up, spent, wanted)
            except _NotDrawn as failure:
                if self._reactor.seconds() + RETRY >= give_up:
                    raise RendererDown(str(failure)) from failure
                await sleep(self._reactor, RETRY)
            else:
                self._struck.pop(key)  # drawn: no longer a suspect
                return image

    async def _attempt(
        self, key: bytes, body: bytes, give_up: float, spent: float, wanted: Callable[[], bool]
    ) -> bytes:
        """One try: for a suspect spec the suspects' lock, then a slot, then one render if still wanted."""
        queue_until = min(give_up, self._reactor.seconds() + self._queue_wait)
        suspect = self._struck.get(key) is not None
        if suspect:
            waiting = self._suspects.acquire()
            waiting.addTimeout(max(0.0, queue_until - self._reactor.seconds()), self._reactor)
            try:
                await waiting
            except defer.TimeoutError:
                raise self._busy() from None
        try:
            return await self.slots.run(
                spent, queue_until - self._reactor.seconds(), lambda: self._sent(key, body, give_up, wanted)
            )
        except NoSlot:
            raise self._busy() from None
        finally:
            if suspect:  # on the next turn, as a slot is
                self._reactor.callLater(0, self._suspects.release)

    async def _sent(self, key: bytes, body: bytes, give_up: float, wanted: Callable[[], bool]) -> bytes:
        """One render of ``body``, unless nobody wants it any more."""
        if not wanted():
            raise Abandoned()
        return await self._draw(key, body, min(self.deadline, max(RETRY, give_up - self._reactor.seconds())))

    def _busy(self) -> RendererBusy:
        return RendererBusy(f"{self.in_flight} renders in flight and no slot within the wait")

    async def _draw(self, key: bytes, body: bytes, timeout: float) -> bytes:
        self.in_flight += 1
        request = defer.ensureDeferred(self._post(body))
        timer = self._reactor.callLater(timeout, request.cancel)
        try:
            code, content = await request
        except (error.ConnectError, RequestTransmissionFailed) as failure:  # node not listening: never drawn
            raise _NotDrawn(str(failure)) from failure
        except Exception as failure:
            overran = not timer.active()
            if overran and timeout < self.deadline:
                raise RendererDown("no time left to wait for the renderer") from failure
            self._died(key, overran)
            raise _NotDrawn(str(failure)) from failure
        finally:
            if timer.active():
                timer.cancel()
            self.in_flight -= 1
        if code == 503:
            raise _NotDrawn("node is at its own cap on renders")
        if code != 200:
            raise RenderFailed(content.decode("utf-8", "replace"))
        return content

    async def _post(self, body: bytes) -> tuple[int, bytes]:
        headers: dict[bytes | str, bytes | str] = {b"Content-Type": b"application/json"}
        response = await self._http.post(self.url + "/render", data=body, headers=headers)
        return response.code, await response.content()

    def _died(self, key: bytes, overran: bool) -> None:
        """Node died (or overran the deadline) under the spec ``key``: strike or poison it."""
        if overran:
            log.error(
                "A render overran its {deadline} s deadline; killing the renderer", deadline=self.deadline
            )
            self._kill()
        if overran or self._struck.get(key) is not None:
            self._poisoned.set(key, b"1", POISON_TTL)
            log.error(
                "The renderer died drawing spec {digest}; it is never sent again", digest=key.hex()[:16]
            )
        else:
            self._struck.set(key, b"1", POISON_TTL)

    async def healthy(self) -> bool:
        """True when the renderer answers its health check now."""
        try:
            response = await self._http.get(self.url + "/health", timeout=1)
            await response.content()
        except Exception:
            return False
        code: int = response.code
        return code == 200
