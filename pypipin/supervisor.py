"""The worker processes: started on the listening socket the daemon holds, watched and restarted,
signalled, and drained on stop."""
# mypy: untyped-calls-exclude=twisted
# (much of Twisted is not annotated: calls into it go unchecked, the rest of these modules is strict)

import os
import signal
import socket
import sys
from collections.abc import Sequence
from typing import Any

from twisted.application import service
from twisted.internet import defer, error, protocol
from twisted.internet.interfaces import IProtocolFactory, IStreamServerEndpoint
from twisted.logger import Logger
from twisted.python.failure import Failure

from pypipin._twisted import one_accept_per_turn
from pypipin.waiting import poll_until

log = Logger()

SOCKET_FD = 3  # where each worker finds the listening socket
RESTART_MIN = 0.2  # seconds before a worker that died at once is started again, doubling ...
RESTART_MAX = 30.0  # ... up to this
RAN_A_WHILE = 10.0  # seconds: a worker that ran this long is restarted at once


def worker_command(arguments: Sequence[str], count: int, renderer_port: int) -> list[str]:
    """How a worker is started: the daemon's own options, then what makes it one of ``count`` workers
    drawing through the daemon's node."""
    return [
        sys.executable,
        "-m",
        "pypipin.worker",
        *arguments,
        f"--workers={count}",
        f"--renderer-port={renderer_port}",
        "--metrics-port=",
    ]


class _Watched(protocol.ProcessProtocol):
    def __init__(self, workers: "Workers", number: int) -> None:
        self._workers = workers
        self._number = number

    def errReceived(self, data: bytes) -> None:
        for line in data.decode(errors="replace").splitlines():
            log.info("[worker {number}] {line}", number=self._number, line=line)

    def processEnded(self, reason: Failure) -> None:
        self._workers.ended(self._number, reason)


class Workers(service.Service):
    """N workers, each given the listening socket as its descriptor 3 and the daemon's standard output
    (the access log's "-"); what a worker logs goes into the daemon's log, line by line."""

    def __init__(
        self, reactor: Any, count: int, endpoint: IStreamServerEndpoint, command: list[str], drain: float
    ) -> None:
        self._reactor = reactor
        self._count = count
        self._endpoint = endpoint
        self._command = command
        self._drain = drain
        self._port: Any = None  # the listening port, held open, read by the workers alone
        self.processes: dict[int, Any] = {}  # each running worker by its number
        self._started: dict[int, float] = {}
        self._delays: dict[int, float] = {}
        self._stopping = False

    def privilegedStartService(self) -> None:
        """Listen before twistd gives up root (a port below 1024)."""
        if self._port is None:
            listening = self._endpoint.listen(protocol.Factory.forProtocol(protocol.Protocol))
            listening.addCallback(lambda port: setattr(self, "_port", port))
            if self._port is None:
                raise RuntimeError("--workers: the --port endpoint did not listen at once")
            self._port.stopReading()  # this process accepts nothing: the workers do

    def startService(self) -> None:
        self.privilegedStartService()
        super().startService()  # type: ignore[no-untyped-call]  # the exclusion above misses super()
        for number in range(self._count):
            self._start(number)

    def _start(self, number: int) -> None:
        if self._stopping:
            return
        self._started[number] = self._reactor.seconds()
        self.processes[number] = self._reactor.spawnProcess(
            _Watched(self, number),
            self._command[0],
            self._command,
            env={**os.environ, "PYPIPIN_WORKER": str(number)},
            childFDs={0: "w", 1: 1, 2: "r", SOCKET_FD: self._port.fileno()},
        )

    def ended(self, number: int, reason: Failure) -> None:
        """Worker ``number`` is gone: started again unless stopping, at once if it ran a while."""
        self.processes.pop(number, None)
        if self._stopping:
            return
        ran = self._reactor.seconds() - self._started[number]
        delay = 0.0 if ran >= RAN_A_WHILE else self._delays.get(number, RESTART_MIN)
        self._delays[number] = min(max(delay, RESTART_MIN) * 2, RESTART_MAX)
        log.warn(
            "Worker {number} ended ({reason}); starting it again in {delay:.1f} s",
            number=number,
            reason=reason.getErrorMessage(),
            delay=delay,
        )
        self._reactor.callLater(delay, self._start, number)

    def signal(self, number: int) -> None:
        """Send signal ``number`` to every running worker."""
        for process in list(self.processes.values()):
            try:
                process.signalProcess(number)
            except error.ProcessExitedAlready:
                pass

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()  # type: ignore[no-untyped-call]  # the exclusion above misses super()
        self._stopping = True
        self.signal(signal.SIGTERM)
        return defer.ensureDeferred(self._drained())

    async def _drained(self) -> None:
        if not await poll_until(self._reactor, lambda: not self.processes, self._drain):
            log.warn("Workers still running after {seconds:.0f} s: killed", seconds=self._drain)
            self.signal(signal.SIGKILL)
            await poll_until(self._reactor, lambda: not self.processes, 1.0)
        await self._port.stopListening()


class Adopted(service.Service):
    """A worker's side: the listening socket inherited as descriptor ``fd``, served by ``factory``, one
    connection accepted a turn."""

    def __init__(self, reactor: Any, fd: int, factory: IProtocolFactory) -> None:
        self._reactor = reactor
        self._fd = fd
        self._factory = factory
        self._port: Any = None

    def startService(self) -> None:
        super().startService()  # type: ignore[no-untyped-call]  # the exclusion above misses super()
        with socket.socket(fileno=os.dup(self._fd)) as probe:
            family = probe.family
        self._port = self._reactor.adoptStreamPort(self._fd, family, self._factory)
        os.close(self._fd)  # the reactor's port holds a copy of its own
        one_accept_per_turn(self._port)

    def stopService(self) -> Any:
        super().stopService()  # type: ignore[no-untyped-call]  # the exclusion above misses super()
        return self._port.stopListening()
