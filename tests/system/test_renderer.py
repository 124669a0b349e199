"""The real Node renderer: its memory ceiling, the render deadline, specs never sent again, the cap on renders
in flight; provisioning its npm packages, and a renderer that cannot start.

The renderer client runs here against the real node under procmon (hostile specs sent straight
to it, past the logo check, to prove the defence behind it); the stand-in node of the bookkeeping is
in test_drawing.py.
"""

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task
from twisted.internet.threads import deferToThread

from pypipin.metrics import Counters
from pypipin.renderer.drawing import Renderer, RenderFailed
from pypipin.renderer.process import MEMORY_CEILING, Monitor, free_port
from pypipin.renderer.provision import NotReady, check_dir, check_node, default_dir, install, node_versions
from pypipin.waiting import poll_until, sleep
from tests.support.fakepypi import FakeUpstream
from tests.support.logos import FLOOD, TURBULENCE, clip_chain
from tests.support.loopback import get, get_from
from tests.support.processes import PYPIPIN
from tests.support.renders import data_url, fill, spec, timed

GIB = 1 << 30
NODE = shutil.which("node") or "node"


def rss(pid: int) -> int:
    """Resident bytes of a process, 0 once it is gone."""
    try:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    except (OSError, ValueError):
        return 0
    return int(fields.get("VmRSS", "0 kB").split()[0]) * 1024


def established(port: int) -> int:
    """TCP connections open to a loopback port (node's side of them)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        count += state == "01" and int(local.split(":")[1], 16) == port
    return count


class Node:
    """The real renderer under procmon in this process; its RSS sampled every 20 ms."""

    def __init__(self) -> None:
        self.counters = Counters()
        self.port = free_port()
        self.monitor = Monitor(reactor, NODE, self.port, self.counters, default_dir(), provision=False)
        self.renderer = Renderer(reactor, self.port, kill=self.monitor.kill)
        self.peak_rss = 0
        self._sampler = task.LoopingCall(self._sample)

    @property
    def pid(self) -> int | None:
        protocol = self.monitor.protocols.get("shields")
        return protocol.transport.pid if protocol is not None and protocol.transport is not None else None

    def _sample(self) -> None:
        if self.pid:
            self.peak_rss = max(self.peak_rss, rss(self.pid))

    async def up(self) -> int:
        """Waits until node answers; its PID."""
        deadline = reactor.seconds() + 20
        while not await self.renderer.healthy():
            assert reactor.seconds() < deadline, "node did not start"
            await sleep(reactor, 0.05)
        assert self.pid
        return self.pid

    def start(self) -> "Node":
        self.monitor.startService()
        self._sampler.start(0.02)
        return self

    def stop(self) -> None:
        self._sampler.stop()
        self.renderer.pool.closeCachedConnections()
        pytest_twisted.blockon(self.monitor.stopService())


@pytest.fixture
def node() -> Iterator[Node]:
    running = Node().start()
    yield running
    running.stop()


@pytest.mark.processes
@pytest_twisted.ensureDeferred
async def test_node_runs_under_its_memory_ceiling_and_draws_every_format(node: Node) -> None:
    pid = await node.up()
    limits = Path(f"/proc/{pid}/limits").read_text()
    (line,) = [line for line in limits.splitlines() if line.startswith("Max address space")]
    assert line.split()[3:5] == [str(MEMORY_CEILING), str(MEMORY_CEILING)]
    formats = ["png", "jpg", "gif", "webp", "tiff", "svg", "png", "tiff"]  # 8: the default cap
    images = await defer.gatherResults(
        [defer.ensureDeferred(node.renderer.render(spec(f"f{n}", fmt, 4))) for n, fmt in enumerate(formats)]
    )
    magic = [b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"RIFF", b"II*\x00", b"<svg", b"\x89PNG", b"II*\x00"]
    assert [image.startswith(start) for image, start in zip(images, magic, strict=True)] == [True] * 8
    assert node.pid == pid and node.peak_rss < GIB
    print(f"node with 8 scale-4 renders in flight: peak RSS {node.peak_rss // 2**20} MiB")


@pytest.mark.processes
@pytest.mark.parametrize("logo,scale", [(TURBULENCE, 4), (FLOOD, 1)], ids=["turbulence", "flood"])
@pytest_twisted.ensureDeferred
async def test_a_spec_node_dies_drawing_is_never_sent_again(node: Node, logo: str, scale: int) -> None:
    """The logos of issue 10, sent past the logo check: node dies at its ceiling twice, then never again."""
    first = await node.up()
    hostile = spec("hostile", "png", scale, data_url(logo))
    elapsed, outcome = await timed(node.renderer.render(hostile))
    assert isinstance(outcome, RenderFailed) and elapsed < 10, (elapsed, outcome)
    next_png, image = await timed(node.renderer.render(spec("next", "png")))
    assert image[:4] == b"\x89PNG" and next_png < 3, next_png
    second = await node.up()
    assert second != first and node.counters.renderer_restarts == 2
    elapsed, outcome = await timed(node.renderer.render(hostile))
    assert isinstance(outcome, RenderFailed) and "not sent again" in str(outcome) and elapsed < 0.1
    assert node.pid == second and node.counters.renderer_restarts == 2
    assert node.peak_rss < GIB
    print(f"{scale=}: node died twice, peak RSS {node.peak_rss // 2**20} MiB, next PNG in {next_png:.2f} s")


@pytest.mark.processes
@pytest_twisted.ensureDeferred
async def test_a_render_past_its_deadline_kills_node_and_is_never_sent_again(node: Node) -> None:
    first = await node.up()
    hasty = Renderer(reactor, node.port, deadline=0.001, kill=node.monitor.kill)  # any render overruns it
    try:
        elapsed, outcome = await timed(hasty.render(spec("slow", "tiff", 4)))
        assert isinstance(outcome, RenderFailed) and elapsed < 1, (elapsed, outcome)
        assert await poll_until(reactor, lambda: node.pid not in (None, first), 5)
        second = await node.up()
        elapsed, outcome = await timed(hasty.render(spec("slow", "tiff", 4)))
        assert isinstance(outcome, RenderFailed) and elapsed < 0.1 and node.pid == second
        assert (await node.renderer.render(spec("normal")))[:4] == b"\x89PNG"
    finally:
        hasty.pool.closeCachedConnections()


@pytest.mark.processes
@pytest_twisted.ensureDeferred
async def test_renders_in_flight_never_pass_the_cap(node: Node) -> None:
    await node.up()
    await node.renderer.pool.closeCachedConnections()  # the health check's: only the burst's count
    most = {"in_flight": 0, "connections": 0}

    def sample() -> None:
        most["in_flight"] = max(most["in_flight"], patient.in_flight)
        most["connections"] = max(most["connections"], established(node.port))

    patient = Renderer(reactor, node.port, wait=60, queue_wait=60)  # the cap, not the wait, is tried here
    sampler = task.LoopingCall(sample)
    sampler.start(0.005)
    started = reactor.seconds()
    images = await defer.gatherResults(
        [defer.ensureDeferred(patient.render(spec(f"burst{n}", "png", 4))) for n in range(60)]
    )
    elapsed = reactor.seconds() - started
    sampler.stop()
    assert all(image[:4] == b"\x89PNG" for image in images)
    assert 1 <= most["in_flight"] <= 8 and most["connections"] <= 8, most
    patient.pool.closeCachedConnections()
    print(
        f"60 scale-4 PNGs at once: {elapsed:.2f} s, most in flight {most['in_flight']}, "
        f"most connections to node {most['connections']}"
    )


@pytest.mark.processes
@pytest.mark.parametrize(
    "logo,scale",
    [(TURBULENCE, 4), (FLOOD, 1), (clip_chain(7, 7), 4), (clip_chain(5, 4), 1)],
    ids=["turbulence", "flood", "clip chain 7x7", "clip chain 5x4"],
)
@pytest_twisted.ensureDeferred
async def test_hostile_logos_never_reach_node(
    upstream: FakeUpstream, start_daemon, logo: str, scale: int
) -> None:
    upstream.add("demo")
    daemon = await start_daemon().drawing()
    (pid,) = daemon.children()
    peak = {"rss": 0}
    sampler = task.LoopingCall(lambda: peak.update(rss=max(peak["rss"], rss(pid))))
    sampler.start(0.02)
    started = time.monotonic()
    response, body = await get(
        f"{daemon.url}/wheel/demo/badge.png?scale={scale}&logo={quote(data_url(logo))}"
    )
    elapsed = time.monotonic() - started
    _, without = await get(f"{daemon.url}/wheel/demo/badge.png?logo=&scale={scale}")
    assert response.code == 200 and elapsed < 10 and body == without  # drawn without the logo
    started = time.monotonic()
    response, body = await get(f"{daemon.url}/wheel/demo/badge.png?label=next")
    next_png = time.monotonic() - started
    sampler.stop()
    assert response.code == 200 and body[:4] == b"\x89PNG" and next_png < 3
    assert daemon.children() == [pid] and 0 < peak["rss"] < GIB and "restart" not in daemon.log_text()
    print(
        f"{scale=}: {response.code} in {elapsed:.2f} s, node PID kept, peak RSS {peak['rss'] // 2**20} MiB, "
        f"next PNG {next_png:.2f} s"
    )


@pytest.mark.processes
@pytest_twisted.ensureDeferred
async def test_the_clip_chain_attack_from_five_addresses_leaves_node_up(
    upstream: FakeUpstream, start_daemon: Any
) -> None:
    """Issue 17: every clip chain of depth 5-8 and fan-out 4-10, at scale 1 and 4, from 5 addresses at
    once, while another client asks for a new PNG: none is a 5xx, node keeps its PID (timings:
    scripts/bench abuse)."""
    upstream.add("demo")
    daemon = await start_daemon("none", "--client-renders", "1000").drawing()
    (pid,) = daemon.children()
    urls = [
        f"{daemon.url}/wheel/demo/badge.png?scale={scale}&label=d{depth}k{fan_out}&logo="
        + quote(data_url(clip_chain(depth, fan_out)))
        for depth in range(5, 9)
        for fan_out in range(4, 11)
        for scale in (1, 4)
    ]
    attacks = [defer.ensureDeferred(get_from(f"127.0.0.{2 + n % 5}", url)) for n, url in enumerate(urls)]
    victim = defer.ensureDeferred(get_from("127.0.0.9", f"{daemon.url}/wheel/demo/badge.png?label=victim"))
    answers = await defer.gatherResults(attacks + [victim])
    assert [response.code for response, _ in answers] == [200] * len(answers)
    assert all(body[:4] == b"\x89PNG" for _, body in answers)
    assert daemon.children() == [pid] and "restart" not in daemon.log_text()


@pytest.mark.processes
@pytest_twisted.ensureDeferred
async def test_check_node_runs_it(tmp_path: Path) -> None:
    path, version = await check_node(reactor, "node")
    assert path == shutil.which("node") and version in node_versions()
    old = tmp_path / "node"
    old.write_text("#!/bin/sh\necho v18.19.0\n")  # a node too old: only its --version matters here
    old.chmod(0o755)
    with pytest.raises(NotReady, match=r"18\.19\.0 .* too old"):
        await check_node(reactor, str(old))


@pytest.mark.processes
@pytest_twisted.ensureDeferred
async def test_concurrent_installs_give_one_whole_directory(tmp_path: Path) -> None:
    """Two daemons starting at once: both succeed, one directory, no partial ones left."""
    target = tmp_path / "cache" / "renderer" / "abc"
    node = shutil.which("node")
    await defer.gatherResults(
        [defer.ensureDeferred(install(reactor, target, node)) for _ in range(2)], consumeErrors=True
    )
    check_dir(target)
    assert sorted(path.name for path in target.parent.iterdir()) == ["abc"]
    before = (target / "node_modules").stat().st_mtime_ns
    started = reactor.seconds()
    await install(reactor, target, node)  # present: nothing to do
    assert reactor.seconds() - started < 1 and (target / "node_modules").stat().st_mtime_ns == before


@pytest.mark.processes
@pytest_twisted.ensureDeferred
async def test_without_node_one_line_of_log_and_everything_else_works(
    upstream: FakeUpstream, start_daemon
) -> None:
    """--node /nonexistent/node for 30 s: health says why, JSON/home/metrics answer, under 20 KB of log."""
    upstream.add("demo")
    # the log measured is the daemon's own: this test's requests are kept out of it
    daemon = await start_daemon("none", "--node", "/nonexistent/node", "--access-log", "none").ready()
    until = reactor.seconds() + 30
    while reactor.seconds() < until:
        response, body = await get(f"{daemon.url}/health")
        problem = json.loads(body)["renderer_problem"]
        assert (
            response.code == 503 and "node not found (/nonexistent/node)" in problem and "--node" in problem
        )
        response, body = await get(f"{daemon.url}/v/demo/badge.json")
        assert response.code == 200 and json.loads(body)["message"] == "v1.2.3"
        for path in ("/", "/metrics"):
            response, _ = await get(daemon.url + path)
            assert response.code == 200, path
        started = reactor.seconds()
        response, _ = await get(f"{daemon.url}/v/demo/badge.svg")
        assert response.code == 503 and reactor.seconds() - started < 2  # at once, not after the 5 s wait
        await sleep(reactor, 1)
    log = daemon.log_text()
    assert len(log.encode()) < 20_000
    assert log.count("Renderer cannot start") == 1 and not daemon.children()


@pytest.mark.processes
@pytest_twisted.ensureDeferred
async def test_renderer_dir_is_never_installed_into_and_is_picked_up_once_made(
    upstream: FakeUpstream, start_daemon, tmp_path: Path
) -> None:
    """An explicit --renderer-dir is the operator's: the daemon says what to run, then uses it."""
    upstream.add("demo")
    directory = tmp_path / "renderer"
    daemon = await start_daemon("none", "--renderer-dir", str(directory)).ready()

    async def problem() -> str | None:
        _, body = await get(f"{daemon.url}/health")
        return json.loads(body)["renderer_problem"]

    deadline = reactor.seconds() + 10  # after node --version
    while await problem() is None:
        assert reactor.seconds() < deadline
        await sleep(reactor, 0.1)
    assert f"pypipin renderer install --dir {directory}" in await problem()
    assert not directory.exists() and not list(tmp_path.iterdir())  # no npm run, no network
    made = await deferToThread(
        subprocess.run,
        [PYPIPIN, "renderer", "install", "--dir", str(directory)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert made.returncode == 0, made.stderr
    assert f"renderer ready in {directory}" in made.stdout

    async def up() -> bool:
        response, _ = await get(f"{daemon.url}/health")
        return response.code == 200

    deadline = reactor.seconds() + 90  # the next check comes within 60 s
    while not await up():
        assert reactor.seconds() < deadline
        await sleep(reactor, 0.5)
    response, body = await get(f"{daemon.url}/v/demo/badge.png")
    assert response.code == 200 and body.startswith(b"\x89PNG")
    assert daemon.log_text().count("Renderer cannot start") == 1


@pytest.mark.processes
@pytest_twisted.ensureDeferred
async def test_first_start_provisions_the_renderer_while_json_badges_answer(
    upstream: FakeUpstream, start_daemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty cache directory: the daemon runs npm ci into it, logs it, and then draws."""
    upstream.add("demo")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    daemon = await start_daemon("none").ready()
    response, body = await get(f"{daemon.url}/v/demo/badge.json")
    assert response.code == 200
    assert await poll_until(reactor, lambda: "Installed the renderer into" in daemon.log_text(), 240)
    log = daemon.log_text()
    assert f"Installing the renderer's npm packages into {tmp_path}/pypipin/renderer/" in log
    check_dir(next((tmp_path / "pypipin" / "renderer").iterdir()))
    response, body = await get(f"{daemon.url}/v/demo/badge.png")
    assert response.code == 200 and body.startswith(b"\x89PNG")


@pytest.mark.processes
@pytest_twisted.ensureDeferred
async def test_a_node_that_dies_at_start_is_restarted_with_back_off(
    upstream: FakeUpstream, start_daemon, tmp_path: Path
) -> None:
    """A node that passes the checks but exits at once: restarts 0.2, 0.4, 0.8 ... s apart, not a loop."""
    dying = tmp_path / "node"
    dying.write_text(
        f'#!/bin/sh\n[ "$1" = --version ] && exec {shutil.which("node")} --version\n'
        'echo "node: cannot start" >&2\nexit 1\n'
    )
    dying.chmod(0o755)
    daemon = await start_daemon("none", "--node", str(dying), "--access-log", "none").ready()
    await sleep(reactor, 15)
    response, _ = await get(f"{daemon.url}/health")
    log = daemon.log_text()
    restarts = log.count("procmon starts it again")
    assert response.code == 503 and 3 <= restarts <= 6, restarts  # 0.2 + 0.4 + ... + 6.4 s is 12.6 s
    assert len(log.encode()) < 10_000


@pytest.mark.processes
@pytest_twisted.ensureDeferred
async def test_install_over_another_versions_directory_replaces_it(tmp_path: Path) -> None:
    """`pypipin renderer install --dir D` where D holds an older renderer: D is brought up to date."""
    directory = fill(tmp_path / "renderer", b'{"lockfileVersion": 3}', ["badge-maker", "left-pad"])
    await install(reactor, directory, shutil.which("node"))
    check_dir(directory)
    assert not (directory / "node_modules" / "left-pad").exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["renderer"]
