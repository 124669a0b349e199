"""pypipin.workers and pypipin.supervisor in memory: what each of N workers may use adds up to what one
daemon does; the daemon starts, restarts, signals and drains them."""

import os
import signal
from dataclasses import replace
from typing import Any

import pytest
from twisted.internet.defer import Deferred, succeed
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.error import ProcessTerminated
from twisted.internet.testing import MemoryReactorClock
from twisted.python import usage
from twisted.python.failure import Failure

from pypipin.options import Options
from pypipin.settings import Settings, WorkerSettings
from pypipin.supervisor import Workers
from pypipin.workers import share


def settings(*arguments: str) -> Settings:
    options = Options()
    options.parseOptions(["--workers", "1", *arguments])
    return Settings.from_options(options)


def of(count: int, given: Settings) -> Settings:
    return replace(given, workers=WorkerSettings(count, ()))


def test_one_worker_uses_everything() -> None:
    given = settings("--redis", "none")
    assert share(given) is given


@pytest.mark.parametrize("count", [2, 3, 4])
def test_connection_caps_and_renderer_slots_add_up_to_no_more_than_the_daemons(count: int) -> None:
    given = settings("--max-connections", "1000", "--client-connections", "64", "--render-concurrency", "8")
    each = share(of(count, given))
    assert given.listener.max_connections - count < each.listener.max_connections * count
    assert each.listener.max_connections * count <= given.listener.max_connections
    assert each.listener.client_connections * count <= given.listener.client_connections
    assert each.renderer.concurrency * count <= given.renderer.concurrency
    assert each.renderer.concurrency >= 1


def test_a_worker_keeps_one_connection_and_one_slot_at_least() -> None:
    each = share(of(8, settings("--client-connections", "2", "--render-concurrency", "2")))
    assert (each.listener.client_connections, each.renderer.concurrency) == (1, 1)


@pytest.mark.parametrize("redis", ["none", "redis://127.0.0.1:1/0"])
def test_upstream_rates_and_client_budgets_are_left_to_the_fleet_buckets(redis: str) -> None:
    given = settings("--redis", redis, "--pypi-rate", "4", "--stats-rate", "12", "--client-names", "60")
    each = share(of(2, given))
    assert each.upstream == given.upstream
    assert (each.budgets.names_per_minute, each.budgets.renders_per_minute) == (
        given.budgets.names_per_minute,
        given.budgets.renders_per_minute,
    )


def test_nodes_renders_a_second_are_divided() -> None:
    given = settings("--global-renders", "60")
    assert share(of(3, given)).budgets.renders_per_second * 3 == pytest.approx(60)


def test_auto_is_the_cpus_this_process_may_use() -> None:
    options = Options()
    options.parseOptions(["--workers", "auto"])
    assert options["workers"] == len(os.sched_getaffinity(0))


def test_the_default_is_auto_and_a_worker_is_given_the_command_line_again() -> None:
    options = Options()
    options.parseOptions(["--redis", "none"])
    given = Settings.from_options(options)
    assert given.workers == WorkerSettings(len(os.sched_getaffinity(0)), ("--redis", "none"))


def test_auto_is_one_worker_on_a_port_workers_cannot_share() -> None:
    options = Options()
    options.parseOptions(["--port", "unix:/tmp/pypipin.sock"])
    assert options["workers"] == 1


def test_more_than_one_worker_needs_a_tcp_port() -> None:
    with pytest.raises(usage.UsageError, match="tcp:"):
        Options().parseOptions(["--workers", "2", "--port", "unix:/tmp/pypipin.sock"])


class _Process:
    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol
        self.signals: list[int] = []

    def signalProcess(self, number: int) -> None:
        self.signals.append(number)


class _Held:
    """A listening port, as far as the daemon uses one: its descriptor, not read, closed at the end."""

    reading = True
    closed = False

    def fileno(self) -> int:
        return 7

    def stopReading(self) -> None:
        self.reading = False

    def stopListening(self) -> Deferred[None]:
        self.closed = True
        return succeed(None)


class _Spawning(MemoryReactorClock):
    """A memory reactor that keeps the processes it is asked to start."""

    def __init__(self) -> None:
        super().__init__()
        self.spawned: list[tuple[_Process, dict[int, Any]]] = []
        self.held = _Held()

    def listenTCP(self, port: int, factory: Any, backlog: int = 50, interface: str = "") -> _Held:
        super().listenTCP(port, factory, backlog, interface)
        return self.held

    def spawnProcess(
        self, protocol: Any, executable: str, args: list[str], env: Any, childFDs: Any
    ) -> _Process:
        process = _Process(protocol)
        self.spawned.append((process, childFDs))
        return process


def _end(process: _Process) -> None:
    process.protocol.processEnded(Failure(ProcessTerminated(signal=signal.SIGKILL)))


def started(count: int) -> tuple[_Spawning, Workers]:
    reactor = _Spawning()
    workers = Workers(reactor, count, TCP4ServerEndpoint(reactor, 0), ["python", "-m", "pypipin.worker"], 5)
    workers.startService()
    return reactor, workers


def test_each_worker_is_given_the_held_socket_as_its_descriptor_3() -> None:
    reactor, workers = started(2)
    ((port, *_),) = reactor.tcpServers
    assert port == 0 and len(reactor.spawned) == 2
    assert [fds[3] for _, fds in reactor.spawned] == [7, 7] and not reactor.held.reading
    assert len(workers.processes) == 2


def test_a_worker_that_dies_at_once_is_started_again_after_a_growing_delay() -> None:
    reactor, workers = started(1)
    delays = []
    for _ in range(3):
        process, _ = reactor.spawned[-1]
        _end(process)
        assert not workers.processes
        before = len(reactor.spawned)
        waited = 0.0
        while len(reactor.spawned) == before:
            reactor.advance(0.1)
            waited += 0.1
        delays.append(round(waited, 1))
    assert delays[0] < delays[1] < delays[2]


def test_a_worker_that_ran_a_while_is_started_again_at_once() -> None:
    reactor, workers = started(1)
    reactor.advance(60)
    process, _ = reactor.spawned[-1]
    _end(process)
    reactor.advance(0)
    assert len(reactor.spawned) == 2 and len(workers.processes) == 1


def test_a_signal_reaches_every_worker_and_stop_drains_them_all() -> None:
    reactor, workers = started(2)
    workers.signal(signal.SIGUSR1)
    assert [process.signals for process, _ in reactor.spawned] == [[signal.SIGUSR1]] * 2
    stopped = workers.stopService()
    assert [process.signals[-1] for process, _ in reactor.spawned] == [signal.SIGTERM] * 2
    results: list[Any] = []
    stopped.addCallback(results.append)
    for process, _ in reactor.spawned:
        _end(process)
    reactor.advance(0.1)
    assert results == [None] and len(reactor.spawned) == 2  # none started again
    assert reactor.held.closed
