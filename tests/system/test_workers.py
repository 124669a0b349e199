"""``twistd -n pypipin --workers 2`` with real Redis, the real Node renderer and the fake upstream."""

import os
import signal
import socket
from pathlib import Path

import pytest
import pytest_twisted
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import defer

from pypipin.renderer.process import free_port
from tests.support.fakepypi import FakeUpstream
from tests.support.loopback import get, get_from, sleep
from tests.support.processes import Daemon, RedisServer

pytestmark = pytest.mark.processes


def workers(daemon: Daemon) -> list[int]:
    """The PIDs of the daemon's workers (its other child is node)."""
    return [
        pid
        for pid in daemon.children()
        if b"pypipin.worker" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    ]


def sockets(pid: int) -> int:
    """How many sockets process ``pid`` holds open."""
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd).startswith("socket:")
        except OSError:
            continue
    return count


async def until(condition, seconds: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.1)):
        if condition():
            return True
        await sleep(0.1)
    return condition()


def held(port: int, count: int) -> list[socket.socket]:
    """``count`` connections to ``port``, each with a request head begun and not finished."""
    opened = []
    for _ in range(count):
        client = socket.create_connection(("127.0.0.1", port))
        client.sendall(b"GET /health HTTP/1.1\r\n")
        opened.append(client)
    return opened


async def scraped(url: str) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of the /metrics at ``url``: name, labels, value."""
    response, body = await get(url)
    assert response.code == 200
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    ]


def still_open(clients: list[socket.socket]) -> int:
    count = 0
    for client in clients:
        client.settimeout(0.05)
        try:
            count += client.recv(1) != b""
        except TimeoutError:
            count += 1
        except OSError:
            pass
    return count


@pytest_twisted.ensureDeferred
async def test_two_workers_serve_restart_drain_and_reopen_their_logs(
    upstream: FakeUpstream, redis: RedisServer, start_daemon, tmp_path: Path
) -> None:
    upstream.add("demo")
    log = tmp_path / "access.log"
    daemon = await start_daemon(redis.url, "--access-log", str(log), workers=2).drawing()
    assert await until(lambda: len(workers(daemon)) == 2)
    answers = await defer.gatherResults(
        [defer.ensureDeferred(get(f"{daemon.url}/v/demo/badge.svg?n={n}")) for n in range(20)]
    )
    assert [response.code for response, _ in answers] == [200] * 20
    assert (
        upstream.requests["/pypi/demo/json"] == 1
    )  # one flight, through Redis, for both workers (the feed aside)

    # /metrics on the badge port, whichever worker answers, is the whole daemon's: each worker's labelled
    # (the daemon's own unlabelled), once both workers listen for the daemon's scrapes
    cpu: set[str | None] = set()
    for _ in range(50):
        samples = await scraped(f"{daemon.url}/metrics")
        cpu = {labels.get("worker") for name, labels, _ in samples if name == "process_cpu_seconds_total"}
        if cpu == {None, "0", "1"}:
            break
        await sleep(0.1)
    assert cpu == {None, "0", "1"}
    for _ in range(4):
        samples = await scraped(f"{daemon.url}/metrics")
        badges = [(labels, value) for name, labels, value in samples if name == "pypipin_requests_total"]
        assert sum(value for labels, value in badges if labels["badge"] != "-") == 20
        assert {labels["worker"] for labels, _ in badges} <= {"0", "1"}
        assert ("pypipin_renderer_up", {}, 1.0) in samples
        assert [name for name, labels, _ in samples if name == "pypipin_worker_scrapes_unanswered_total"]
    response, body = await get_from("127.0.0.2", f"{daemon.url}/metrics")
    assert response.code == 403 and b"pypipin_" not in body

    # both workers accept: connections held open, one at a time, spread over them (the kernel wakes
    # either; under load one may win many in a row, so up to 64 are opened)
    before = {pid: sockets(pid) for pid in workers(daemon)}
    clients: list[socket.socket] = []
    try:
        while len(clients) < 64 and not all(sockets(pid) > before[pid] for pid in before):
            clients += held(daemon.port, 1)
            await sleep(0.05)
        assert await until(lambda: all(sockets(pid) > before[pid] for pid in before), 2)
    finally:
        for client in clients:
            client.close()

    # SIGUSR1 reaches every worker: each reopens the access log
    log.rename(tmp_path / "access.log.1")
    os.kill(daemon.process.pid, signal.SIGUSR1)
    assert await until(lambda: daemon.log_text().count("Access log reopened") == 2)
    await get(f"{daemon.url}/v/demo/badge.svg?after=rotation")
    assert await until(lambda: log.exists() and "after=rotation" in log.read_text())

    # a killed worker is started again, and badges are served throughout
    first, _ = workers(daemon)
    os.kill(first, signal.SIGKILL)
    response, _ = await get(f"{daemon.url}/v/demo/badge.svg?killed=1")
    assert response.code == 200
    assert await until(lambda: len(workers(daemon)) == 2 and first not in workers(daemon))
    assert "Worker 0 ended" in daemon.log_text() or "Worker 1 ended" in daemon.log_text()

    # SIGTERM: every worker stops, then the daemon, with 0
    running = workers(daemon)
    assert daemon.stop() == 0
    assert not [pid for pid in running if Path(f"/proc/{pid}").exists()]


@pytest_twisted.ensureDeferred
async def test_the_workers_connection_cap_adds_up_to_the_daemons(
    upstream: FakeUpstream, start_daemon
) -> None:
    port = free_port()
    metrics = f"http://127.0.0.1:{port}/metrics"
    daemon = await start_daemon(
        "none", "--max-connections", "8", "--metrics-port", f"tcp:{port}:interface=127.0.0.1", workers=2
    ).drawing()
    assert daemon.log_text().count("do not share caches") == 1
    assert await until(lambda: len(workers(daemon)) == 2)
    clients = held(daemon.port, 16)
    try:
        await sleep(1.0)
        assert 4 <= still_open(clients) <= 8
    finally:
        for client in clients:
            client.close()

    # with --metrics-port, the daemon serves the whole view there, and --port's /metrics is a 404
    assert (await get(f"{daemon.url}/metrics"))[0].code == 404
    refused = [
        labels for name, labels, _ in await scraped(metrics) if name == "pypipin_connections_refused_total"
    ]
    assert {labels["worker"] for labels in refused} <= {"0", "1"} and refused
    assert (await get_from("127.0.0.2", metrics))[0].code == 403
