"""The Node badge renderer: its process, watched by procmon, and an HTTP client for it."""

import hashlib
import json
import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

from twisted.internet import defer, error
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.runner.procmon import ProcessMonitor
from twisted.web.client import RequestTransmissionFailed

from pypipin.cache import LRU
from pypipin.http import client
from pypipin.metrics import Counters
from pypipin.provision import SERVER_JS, NotReady, check_dir, check_node, install
from pypipin.waiting import poll_until, sleep

log = Logger()

RETRY_MAX = 60.0  # longest wait between two checks of a renderer that cannot start

# node's hard memory ceiling: an address-space rlimit, so its RSS can never pass it. V8 without
# its JIT reserves no 512 MiB code range, and two malloc arenas and a small mimalloc (resvg)
# reservation keep node 20 with 8 renders in flight under ~720 MiB of address space.
MEMORY_CEILING = 1 << 30
NODE_FLAGS = ("--jitless", "--no-expose-wasm", "--max-old-space-size=192")
NODE_ENV = {"MALLOC_ARENA_MAX": "2", "MIMALLOC_ARENA_RESERVE": "64MiB"}
NODE_INHERITS = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "NODE_OPTIONS")
_WITH_CEILING = (  # never above a hard limit the operator set already (systemd's LimitAS=, ulimit -v)
    "import os, resource, sys; hard = resource.getrlimit(resource.RLIMIT_AS)[1]; limit = int(sys.argv[1]); "
    "limit = limit if hard == resource.RLIM_INFINITY else min(limit, hard); "
    "resource.setrlimit(resource.RLIMIT_AS, (limit, limit)); os.execvp(sys.argv[2], sys.argv[2:])"
)
MAX_THREADS = 16  # node's libuv pool: each thread reserves an 8 MiB stack under the ceiling
RENDERS = 8  # renders in flight: 4 per core keeps 2 cores busy while one render waits on I/O or encoding
RENDER_DEADLINE = 4.0  # seconds one render may take in node (a normal one takes 5-50 ms)
QUEUE_WAIT = 1.0  # seconds a render may wait for one of the RENDERS slots
RETRY = 0.1
POISON_TTL = 30 * 86400
POISONS_KEPT = 10_000


def node_environment(inherited: Mapping[str, str]) -> dict[str, str]:
    """What node keeps of the daemon's environment: ``NODE_INHERITS`` only, never a credential
    (node parses untrusted specs; ``PYPIPIN_INDEX`` may hold an index's password)."""
    return {name: inherited[name] for name in NODE_INHERITS if name in inherited}


def node_command(node: str, port: int, directory: Path, renders: int = RENDERS,
                 ceiling: int = MEMORY_CEILING) -> list[str]:
    """How procmon starts node: under an address-space ceiling set by a Python exec shim."""
    return [sys.executable, "-c", _WITH_CEILING, str(ceiling), node, *NODE_FLAGS, str(SERVER_JS),
            "--port", str(port), "--modules", str(directory), "--renders", str(renders)]


class RendererDown(Exception):
    """The renderer did not answer within the wait allowed."""


class RendererBusy(RendererDown):
    """Every render slot stayed taken for as long as a render may wait for one."""


class RenderFailed(Exception):
    """The renderer answered with an error, or the spec is one it must not be sent again."""


class _NotDrawn(Exception):
    """Node did not take the spec (not listening, or at its own cap): try again shortly."""


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Monitor(ProcessMonitor):
    """procmon for the renderer: node is started once it and the npm packages are fit.

    Until then ``problem`` says why not (cause and fix), logged once per cause, checked again
    after 1, 2, 4 ... up to ``RETRY_MAX`` seconds. A node that dies at start is restarted
    after a delay doubling up to ``maxRestartDelay``; one that ran a while, at once.
    """

    minRestartDelay = 0.2
    maxRestartDelay = 30
    killTime = 3

    def __init__(self, reactor: Any, node: str, port: int, counters: Counters, directory: Path,
                 provision: bool, renders: int = RENDERS) -> None:
        super().__init__(reactor=reactor)
        self._renders = renders
        self._counters = counters
        self._started = False
        self._node = node
        self._port = port
        self._directory = directory
        self._provision = provision
        self._preparing: defer.Deferred[None] | None = None
        self.problem: str | None = None  # while it starts, renders wait for it as for a restart

    def startService(self) -> None:
        super().startService()
        self._preparing = defer.ensureDeferred(self._prepare())

    async def _prepare(self) -> None:
        delay, said = 1.0, None
        while True:
            try:
                node, _ = await check_node(self._reactor, self._node)
                try:
                    check_dir(self._directory)
                except NotReady:
                    if not self._provision:
                        raise
                    self.problem = f"installing the renderer's npm packages into {self._directory} (first start)"
                    await install(self._reactor, self._directory, node)
                break
            except NotReady as failure:
                self.problem = str(failure)
                if self.problem != said:
                    log.error("Renderer cannot start: {problem} (checking again with back-off up to {most:.0f} s)",
                              problem=self.problem, most=RETRY_MAX)
                    said = self.problem
                await sleep(self._reactor, delay)
                delay = min(delay * 2, RETRY_MAX)
        self.problem = None
        log.info("Renderer: {node} with the npm packages in {directory}", node=node, directory=self._directory)
        env = {**node_environment(os.environ), **NODE_ENV,
               "UV_THREADPOOL_SIZE": str(min(max(4, self._renders), MAX_THREADS))}
        self.addProcess("shields", node_command(node, self._port, self._directory, self._renders), env=env,
                        cwd=str(self._directory))

    def kill(self) -> None:
        """Kill node now (a render overran its deadline); procmon starts a fresh one."""
        protocol = self.protocols.get("shields")
        if protocol is not None and protocol.transport is not None:
            try:
                protocol.transport.signalProcess("KILL")
            except error.ProcessExitedAlready:
                pass

    def startProcess(self, name: str) -> None:
        if name not in self.protocols:
            if self._started:
                self._counters.renderer_restarts += 1
                log.warn("Renderer exited; procmon starts it again (restart {count})",
                         count=self._counters.renderer_restarts)
            self._started = True
        super().startProcess(name)

    def stopService(self) -> defer.Deferred[None]:  # type: ignore[override]
        if self._preparing is not None:
            self._preparing.cancel()  # stops a back-off wait or an npm run
            self._preparing.addErrback(lambda failure: failure.trap(defer.CancelledError))
        super().stopService()

        def ended() -> bool:
            return not self.protocols

        return defer.ensureDeferred(poll_until(self._reactor, ended, self.killTime + 1))


def blamed(spec: dict[str, Any]) -> bytes:
    """What a death under ``spec`` is blamed on: its logo at its format and scale (texts and colours
    cost node little), or the whole spec when it has no logo."""
    if spec.get("logo"):
        spec = {"logo": spec["logo"], "format": spec.get("format"), "scale": spec.get("scale")}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).digest()


class Renderer:
    """Asks the renderer for images over keep-alive loopback HTTP, at most ``renders`` at once.

    A spec that overran the render deadline (node is then killed), or that node died under
    twice, is remembered and never sent again: it fails at once. A spec with a logo is
    remembered by its logo, format and scale (``blamed``), so a new label with that logo
    fails at once too. After a first death a spec is only a suspect (it may have shared the death
    with others, or met a node that was already gone), tried again while no other suspect is being drawn.
    """

    def __init__(self, reactor: IReactorTime, port: int, wait: float = QUEUE_WAIT + RENDER_DEADLINE,
                 renders: int = RENDERS, deadline: float = RENDER_DEADLINE, queue_wait: float = QUEUE_WAIT,
                 kill: Callable[[], None] = lambda: None, problem: Callable[[], str | None] = lambda: None) -> None:
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
        self._slots = defer.DeferredSemaphore(renders)
        self._suspects = defer.DeferredLock()
        self.in_flight = 0  # renders sent to node and not answered yet
        self._struck = LRU(reactor, POISONS_KEPT, POISONS_KEPT * 64)
        self._poisoned = LRU(reactor, POISONS_KEPT, POISONS_KEPT * 64)

    async def render(self, spec: dict[str, Any]) -> bytes:
        """The image drawn from ``spec``; waits up to ``wait`` seconds for a slot or a restarting renderer.

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
                image = await self._attempt(key, body, give_up)
            except _NotDrawn as failure:
                if self._reactor.seconds() + RETRY >= give_up:
                    raise RendererDown(str(failure)) from failure
                await sleep(self._reactor, RETRY)
            else:
                self._struck.pop(key)  # drawn: no longer a suspect
                return image

    async def _attempt(self, key: bytes, body: bytes, give_up: float) -> bytes:
        """One try: a slot (and, for a suspect spec, the suspects' lock), then one render."""
        locks = [self._suspects, self._slots] if self._struck.get(key) is not None else [self._slots]
        held: list[defer.DeferredLock | defer.DeferredSemaphore] = []
        queue_until = min(give_up, self._reactor.seconds() + self._queue_wait)
        try:
            for lock in locks:
                waiting = lock.acquire()
                waiting.addTimeout(max(0.0, queue_until - self._reactor.seconds()), self._reactor)
                try:
                    await waiting
                except defer.TimeoutError:
                    raise RendererBusy(f"{self.in_flight} renders in flight and no slot within the wait") from None
                held.append(lock)
            return await self._draw(key, body, min(self.deadline, max(RETRY, give_up - self._reactor.seconds())))
        finally:
            for lock in reversed(held):  # on the next turn, once the connection is back in the pool for the next render
                self._reactor.callLater(0, lock.release)

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
        response = await self._http.post(self.url + "/render", data=body, headers={b"Content-Type": b"application/json"})
        return response.code, await response.content()

    def _died(self, key: bytes, overran: bool) -> None:
        """Node died (or overran the deadline) under the spec ``key``: strike or poison it."""
        if overran:
            log.error("A render overran its {deadline} s deadline; killing the renderer", deadline=self.deadline)
            self._kill()
        if overran or self._struck.get(key) is not None:
            self._poisoned.set(key, b"1", POISON_TTL)
            log.error("The renderer died drawing spec {digest}; it is never sent again", digest=key.hex()[:16])
        else:
            self._struck.set(key, b"1", POISON_TTL)

    async def healthy(self) -> bool:
        """True when the renderer answers its health check now."""
        try:
            response = await self._http.get(self.url + "/health", timeout=1)
            await response.content()
        except Exception:
            return False
        return response.code == 200
