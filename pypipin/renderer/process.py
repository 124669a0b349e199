"""The Node renderer's process: started, watched and restarted by procmon, with a minimal environment."""

import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from twisted.internet import defer, error
from twisted.logger import Logger
from twisted.runner.procmon import ProcessMonitor

from pypipin.metrics import Counters
from pypipin.renderer.provision import SERVER_JS, NotReady, check_dir, check_node, install
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


def node_environment(inherited: Mapping[str, str]) -> dict[str, str]:
    """What node keeps of the daemon's environment: ``NODE_INHERITS`` only, never a credential
    (node parses untrusted specs; ``PYPIPIN_INDEX`` may hold an index's password)."""
    return {name: inherited[name] for name in NODE_INHERITS if name in inherited}


def node_command(
    node: str, port: int, directory: Path, renders: int = RENDERS, ceiling: int = MEMORY_CEILING
) -> list[str]:
    """How procmon starts node: under an address-space ceiling set by a Python exec shim."""
    return [
        sys.executable,
        "-c",
        _WITH_CEILING,
        str(ceiling),
        node,
        *NODE_FLAGS,
        str(SERVER_JS),
        "--port",
        str(port),
        "--modules",
        str(directory),
        "--renders",
        str(renders),
    ]


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Monitor(ProcessMonitor):
    """procmon for the renderer: node is started once it and the npm packages are fit.

    Until then ``startup_problem`` says why not (cause and fix), logged once per cause, checked again
    after 1, 2, 4 ... up to ``RETRY_MAX`` seconds. A node that dies at start is restarted
    after a delay doubling up to ``maxRestartDelay``; one that ran a while, at once.
    """

    minRestartDelay = 0.2  # type: ignore[assignment]  # seconds: Twisted annotates it int, uses it as float
    maxRestartDelay = 30
    killTime = 3

    def __init__(
        self,
        reactor: Any,
        node: str,
        port: int,
        counters: Counters,
        directory: Path,
        provision: bool,
        renders: int = RENDERS,
    ) -> None:
        super().__init__(reactor=reactor)
        self._runner = reactor  # node's checks, npm and the back-off (procmon keeps its own, private)
        self._renders = renders
        self._counters = counters
        self._started = False
        self._node = node
        self._port = port
        self._directory = directory
        self._provision = provision
        self._preparing: defer.Deferred[None] | None = None
        self.startup_problem: str | None = None  # while it starts, renders wait for it as for a restart

    def startService(self) -> None:
        super().startService()
        self._preparing = defer.ensureDeferred(self._prepare())

    async def _prepare(self) -> None:
        delay, said = 1.0, None
        while True:
            try:
                node, _ = await check_node(self._runner, self._node)
                try:
                    check_dir(self._directory)
                except NotReady:
                    if not self._provision:
                        raise
                    self.startup_problem = (
                        f"installing the renderer's npm packages into {self._directory} (first start)"
                    )
                    await install(self._runner, self._directory, node)
                break
            except NotReady as failure:
                self.startup_problem = str(failure)
                if self.startup_problem != said:
                    log.error(
                        "Renderer cannot start: {problem} (checking again with back-off up to {most:.0f} s)",
                        problem=self.startup_problem,
                        most=RETRY_MAX,
                    )
                    said = self.startup_problem
                await sleep(self._runner, delay)
                delay = min(delay * 2, RETRY_MAX)
        self.startup_problem = None
        log.info(
            "Renderer: {node} with the npm packages in {directory}", node=node, directory=self._directory
        )
        env = {
            **node_environment(os.environ),
            **NODE_ENV,
            "UV_THREADPOOL_SIZE": str(min(max(4, self._renders), MAX_THREADS)),
        }
        self.addProcess(
            "shields",
            node_command(node, self._port, self._directory, self._renders),
            env=env,
            cwd=str(self._directory),
        )

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
                log.warn(
                    "Renderer exited; procmon starts it again (restart {count})",
                    count=self._counters.renderer_restarts,
                )
            self._started = True
        super().startProcess(name)

    def stopService(self) -> defer.Deferred[bool]:  # type: ignore[override]  # Service says None; procmon waits
        if self._preparing is not None:
            self._preparing.cancel()  # stops a back-off wait or an npm run
            self._preparing.addErrback(lambda failure: failure.trap(defer.CancelledError))
        super().stopService()

        def ended() -> bool:
            return not self.protocols

        return defer.ensureDeferred(poll_until(self._runner, ended, self.killTime + 1))
