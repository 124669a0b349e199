"""The Node badge renderer: its process, watched by procmon, and an HTTP client for it."""

import json
import os
import socket
from pathlib import Path
from typing import Any, Callable

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.runner.procmon import ProcessMonitor

from pypipin.http import client
from pypipin.metrics import Counters
from pypipin.provision import SERVER_JS, NotReady, check_dir, check_node, install
from pypipin.waiting import poll_until, sleep

log = Logger()

RETRY_MAX = 60.0  # longest wait between two checks of a renderer that cannot start


class RendererDown(Exception):
    """The renderer did not answer within the wait allowed."""


class RenderFailed(Exception):
    """The renderer answered with an error."""


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
                 provision: bool) -> None:
        super().__init__(reactor=reactor)
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
        self.addProcess("shields", [node, str(SERVER_JS), "--port", str(self._port), "--modules", str(self._directory)],
                        env=dict(os.environ), cwd=str(self._directory))

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


class Renderer:
    """Asks the renderer for images over keep-alive loopback HTTP."""

    def __init__(self, reactor: IReactorTime, port: int, wait: float = 5.0,
                 problem: Callable[[], str | None] = lambda: None) -> None:
        self._http, self.pool = client(reactor, 16, 1)
        self.pool.retryAutomatically = False
        self.pool.cachedConnectionTimeout = 50  # node drops idle connections after 60 s
        self._reactor = reactor
        self.url = f"http://127.0.0.1:{port}"
        self.wait = wait
        self.problem = problem

    async def render(self, spec: dict[str, Any]) -> bytes:
        """The image drawn from ``spec``; waits up to ``wait`` seconds for a restarting renderer.

        When the renderer cannot start at all (``problem``), RendererDown at once.
        """
        problem = self.problem()
        if problem is not None:
            raise RendererDown(problem)
        body = json.dumps(spec).encode()
        deadline = self._reactor.seconds() + self.wait
        while True:
            try:
                response = await self._http.post(
                    self.url + "/render", data=body, headers={b"Content-Type": b"application/json"}, timeout=self.wait
                )
                content = await response.content()
            except Exception as failure:  # refused, reset or timed out: the child may be restarting
                if self._reactor.seconds() + 0.1 >= deadline:
                    raise RendererDown(str(failure)) from failure
                await sleep(self._reactor, 0.1)
                continue
            if response.code != 200:
                raise RenderFailed(content.decode("utf-8", "replace"))
            return content

    async def healthy(self) -> bool:
        """True when the renderer answers its health check now."""
        try:
            response = await self._http.get(self.url + "/health", timeout=1)
            await response.content()
        except Exception:
            return False
        return response.code == 200
