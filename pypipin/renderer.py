"""The Node badge renderer: its process, watched by procmon, and an HTTP client for it."""

import json
import os
import socket
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.runner.procmon import ProcessMonitor

from pypipin.http import client
from pypipin.metrics import Counters
from pypipin.waiting import poll_until, sleep

log = Logger()

SHIELDS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shields")
SERVER_JS = os.path.join(SHIELDS_DIR, "server.js")


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
    """procmon for the renderer: restarts kept quick, and stopping waits for the child to end."""

    minRestartDelay = 0.2
    maxRestartDelay = 2
    killTime = 3

    def __init__(self, reactor: Any, node: str, port: int, counters: Counters) -> None:
        super().__init__(reactor=reactor)
        self._counters = counters
        self._started = False
        self.addProcess("shields", [node, SERVER_JS, "--port", str(port)], env=dict(os.environ), cwd=SHIELDS_DIR)

    def startProcess(self, name: str) -> None:
        if name not in self.protocols:
            if self._started:
                self._counters.renderer_restarts += 1
                log.warn("Renderer exited; procmon starts it again (restart {count})",
                         count=self._counters.renderer_restarts)
            self._started = True
        super().startProcess(name)

    def stopService(self) -> defer.Deferred[None]:  # type: ignore[override]
        super().stopService()

        def ended() -> bool:
            return not self.protocols

        return defer.ensureDeferred(poll_until(self._reactor, ended, self.killTime + 1))


class Renderer:
    """Asks the renderer for images over keep-alive loopback HTTP."""

    def __init__(self, reactor: IReactorTime, port: int, wait: float = 5.0) -> None:
        self._http, self.pool = client(reactor, 16, 1)
        self.pool.retryAutomatically = False
        self.pool.cachedConnectionTimeout = 50  # node drops idle connections after 60 s
        self._reactor = reactor
        self.url = f"http://127.0.0.1:{port}"
        self.wait = wait

    async def render(self, spec: dict[str, Any]) -> bytes:
        """The image drawn from ``spec``; waits up to ``wait`` seconds for a restarting renderer."""
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
