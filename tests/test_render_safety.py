"""Node's memory ceiling, the render deadline, specs never sent again, and the cap on renders in flight.

The renderer client runs here against the real node under procmon (hostile specs sent straight
to it, past the logo check, to prove the defence behind it), or against a stand-in node in this
process whose connections the test holds, answers or drops (the bookkeeping, step by step).
"""

import base64
import json
import shutil
import time
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

from fakepypi import FakeUpstream
from pypipin.metrics import Counters
from pypipin.renderer.provision import default_dir
from pypipin.renderer.drawing import QUEUE_WAIT, Renderer, RendererBusy, RenderFailed
from pypipin.renderer.process import MEMORY_CEILING, Monitor, free_port
from pypipin.waiting import poll_until, sleep
from util import FLOOD, TURBULENCE, clip_chain, get, get_from

GIB = 1 << 30
NODE = shutil.which("node") or "node"


def data_url(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def spec(label: str, fmt: str = "png", scale: int = 1, logo: str | None = None) -> dict[str, Any]:
    return {"label": label, "message": "yes", "color": "brightgreen", "labelColor": None, "style": "flat",
            "format": fmt, "scale": scale, "logo": logo}


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


async def timed(work: Any) -> tuple[float, Any]:
    """Seconds ``work`` (a coroutine) took, and its result or the exception it raised."""
    started = reactor.seconds()
    try:
        result = await work
    except Exception as failure:
        result = failure
    return reactor.seconds() - started, result


@pytest.mark.processes
@pytest_twisted.ensureDeferred
async def test_node_runs_under_its_memory_ceiling_and_draws_every_format(node: Node) -> None:
    pid = await node.up()
    limits = Path(f"/proc/{pid}/limits").read_text()
    (line,) = [line for line in limits.splitlines() if line.startswith("Max address space")]
    assert line.split()[3:5] == [str(MEMORY_CEILING), str(MEMORY_CEILING)]
    formats = ["png", "jpg", "gif", "webp", "tiff", "svg", "png", "tiff"]  # 8: the default cap
    images = await defer.gatherResults([defer.ensureDeferred(node.renderer.render(spec(f"f{n}", fmt, 4)))
                                        for n, fmt in enumerate(formats)])
    magic = [b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"RIFF", b"II*\x00", b"<svg", b"\x89PNG", b"II*\x00"]
    assert [image.startswith(start) for image, start in zip(images, magic)] == [True] * 8
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
    images = await defer.gatherResults([defer.ensureDeferred(patient.render(spec(f"burst{n}", "png", 4)))
                                        for n in range(60)])
    elapsed = reactor.seconds() - started
    sampler.stop()
    assert all(image[:4] == b"\x89PNG" for image in images)
    assert 1 <= most["in_flight"] <= 8 and most["connections"] <= 8, most
    patient.pool.closeCachedConnections()
    print(f"60 scale-4 PNGs at once: {elapsed:.2f} s, most in flight {most['in_flight']}, "
          f"most connections to node {most['connections']}")


class StandIn(Resource):
    """A node that holds every render until the test answers it, or drops them all (a death)."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.held: list[tuple[str, Any]] = []
        self.received: list[str] = []

    def render_POST(self, request: Any) -> Any:
        label = json.loads(request.content.read())["label"]
        self.received.append(label)
        self.held.append((label, request))
        return NOT_DONE_YET

    def labels(self) -> list[str]:
        return sorted(label for label, _ in self.held)

    def answer(self, label: str) -> None:
        (request,) = [request for held, request in self.held if held == label]
        self.held = [(held, each) for held, each in self.held if each is not request]
        request.write(b"drawn " + label.encode())
        request.finish()

    def die(self) -> None:
        for _, request in self.held:
            request.channel.transport.abortConnection()
        self.held = []


@pytest.fixture
def stand_in() -> Iterator[tuple[StandIn, int]]:
    resource = StandIn()
    port = reactor.listenTCP(0, Site(resource), interface="127.0.0.1")
    yield resource, port.getHost().port
    resource.die()
    pytest_twisted.blockon(port.stopListening())


async def held(fake: StandIn, count: int) -> list[str]:
    """The labels held once ``count`` renders are held (waiting up to 10 s), after 0.3 s more to see no more come."""
    assert await poll_until(reactor, lambda: len(fake.held) >= count, 10), fake.labels()
    await sleep(reactor, 0.3)
    return fake.labels()


@pytest_twisted.ensureDeferred
async def test_renders_wait_a_bounded_time_for_a_slot(stand_in: tuple[StandIn, int]) -> None:
    fake, port = stand_in
    renderer = Renderer(reactor, port, renders=2)
    calls = {label: defer.ensureDeferred(timed(renderer.render(spec(label)))) for label in "abcde"}
    assert await held(fake, 2) == ["a", "b"] and renderer.in_flight == 2
    fake.answer("a")
    assert (await calls["a"])[1] == b"drawn a"
    assert await held(fake, 2) == ["b", "c"]  # the slot freed went to the first waiting
    waited = [await calls[label] for label in "de"]
    assert [type(outcome) for _, outcome in waited] == [RendererBusy, RendererBusy]
    assert all(QUEUE_WAIT - 0.05 <= elapsed <= QUEUE_WAIT + 1 for elapsed, _ in waited), waited
    fake.answer("b")
    fake.answer("c")
    assert [(await calls[label])[1] for label in "bc"] == [b"drawn b", b"drawn c"]
    assert sorted(fake.received) == ["a", "b", "c"]
    renderer.pool.closeCachedConnections()


@pytest_twisted.ensureDeferred
async def test_specs_that_shared_a_death_are_tried_again_one_at_a_time(stand_in: tuple[StandIn, int]) -> None:
    fake, port = stand_in
    renderer = Renderer(reactor, port)
    together = {label: defer.ensureDeferred(renderer.render(spec(label))) for label in ("innocent", "killer")}
    assert await held(fake, 2) == ["innocent", "killer"]
    fake.die()  # both were being drawn: neither is blamed yet; each is tried again, alone
    first = await held(fake, 1)
    assert len(first) == 1
    if first == ["killer"]:
        fake.die()  # the killer again: now it is remembered
        assert await held(fake, 1) == ["innocent"]
    fake.answer("innocent")
    assert await together["innocent"] == b"drawn innocent"
    if first == ["innocent"]:
        assert await held(fake, 1) == ["killer"]
        fake.die()
    with pytest.raises(RenderFailed, match="not sent again"):
        await together["killer"]
    with pytest.raises(RenderFailed, match="not sent again"):
        await renderer.render(spec("killer"))
    assert sorted(fake.received) == ["innocent", "innocent", "killer", "killer"]
    renderer.pool.closeCachedConnections()


@pytest.mark.parametrize("dies_again", [True, False], ids=["killer", "unlucky"])
@pytest_twisted.ensureDeferred
async def test_a_spec_is_not_sent_again_once_node_died_under_it_twice(stand_in: tuple[StandIn, int],
                                                                       dies_again: bool) -> None:
    """After one death a spec is only a suspect (node may have been killed from outside, by an operator or
    the OOM killer, or been gone before it had the spec): tried again, and drawn if node lives."""
    fake, port = stand_in
    renderer = Renderer(reactor, port)
    first = defer.ensureDeferred(renderer.render(spec("suspect")))
    assert await held(fake, 1) == ["suspect"]
    fake.die()
    assert await held(fake, 1) == ["suspect"]
    if dies_again:
        fake.die()
        with pytest.raises(RenderFailed, match="not sent again"):
            await first
        with pytest.raises(RenderFailed, match="not sent again"):
            await renderer.render(spec("suspect"))
        assert fake.received == ["suspect", "suspect"]
    else:
        fake.answer("suspect")
        assert await first == b"drawn suspect"
        again = defer.ensureDeferred(renderer.render(spec("suspect")))  # no longer a suspect
        assert await held(fake, 1) == ["suspect"]
        fake.answer("suspect")
        assert await again == b"drawn suspect"
    renderer.pool.closeCachedConnections()


@pytest_twisted.ensureDeferred
async def test_a_logo_node_died_under_is_not_sent_again_under_new_labels(stand_in: tuple[StandIn, int]
                                                                         ) -> None:
    """Issue 17: the never-again list holds the logo (at its format and scale), not the whole spec."""
    fake, port = stand_in
    renderer = Renderer(reactor, port)
    logo = data_url(clip_chain(7, 7))
    killer = defer.ensureDeferred(renderer.render(spec("first", logo=logo)))
    for _ in range(2):
        assert await held(fake, 1) == ["first"]
        fake.die()
    with pytest.raises(RenderFailed, match="not sent again"):
        await killer
    for label, fmt in (("second", "png"), ("third", "png")):
        with pytest.raises(RenderFailed, match="not sent again"):
            await renderer.render(spec(label, fmt, logo=logo))
    assert fake.received == ["first", "first"]
    others = (("svg", "svg", 1, logo), ("scale 2", "png", 2, logo), ("no logo", "png", 1, None))
    other = {label: defer.ensureDeferred(renderer.render(spec(label, fmt, scale, each)))
             for label, fmt, scale, each in others}
    assert await held(fake, 3) == ["no logo", "scale 2", "svg"]
    for label in other:
        fake.answer(label)
        assert await other[label] == b"drawn " + label.encode()
    assert sorted(fake.received) == ["first", "first", "no logo", "scale 2", "svg"]
    renderer.pool.closeCachedConnections()


@pytest.mark.processes
@pytest.mark.parametrize("logo,scale",
                         [(TURBULENCE, 4), (FLOOD, 1), (clip_chain(7, 7), 4), (clip_chain(5, 4), 1)],
                         ids=["turbulence", "flood", "clip chain 7x7", "clip chain 5x4"])
@pytest_twisted.ensureDeferred
async def test_hostile_logos_never_reach_node(upstream: FakeUpstream, start_daemon, logo: str, scale: int) -> None:
    upstream.add("demo")
    daemon = await start_daemon().drawing()
    (pid,) = daemon.children()
    peak = {"rss": 0}
    sampler = task.LoopingCall(lambda: peak.update(rss=max(peak["rss"], rss(pid))))
    sampler.start(0.02)
    started = time.monotonic()
    response, body = await get(f"{daemon.url}/wheel/demo/badge.png?scale={scale}&logo={quote(data_url(logo))}")
    elapsed = time.monotonic() - started
    _, without = await get(f"{daemon.url}/wheel/demo/badge.png?logo=&scale={scale}")
    assert response.code == 200 and elapsed < 10 and body == without  # drawn without the logo
    started = time.monotonic()
    response, body = await get(f"{daemon.url}/wheel/demo/badge.png?label=next")
    next_png = time.monotonic() - started
    sampler.stop()
    assert response.code == 200 and body[:4] == b"\x89PNG" and next_png < 3
    assert daemon.children() == [pid] and 0 < peak["rss"] < GIB and "restart" not in daemon.log_text()
    print(f"{scale=}: {response.code} in {elapsed:.2f} s, node PID kept, peak RSS {peak['rss'] // 2**20} MiB, "
          f"next PNG {next_png:.2f} s")


@pytest.mark.processes
@pytest_twisted.ensureDeferred
async def test_the_clip_chain_attack_from_five_addresses_leaves_node_up(upstream: FakeUpstream,
                                                                       start_daemon: Any) -> None:
    """Issue 17: every clip chain of depth 5-8 and fan-out 4-10, at scale 1 and 4, from 5 addresses at
    once, while another client asks for a new PNG: none is a 5xx, node keeps its PID (timings:
    scripts/bench abuse)."""
    upstream.add("demo")
    daemon = await start_daemon("none", "--client-renders", "1000").drawing()
    (pid,) = daemon.children()
    urls = [f"{daemon.url}/wheel/demo/badge.png?scale={scale}&label=d{depth}k{fan_out}&logo="
            + quote(data_url(clip_chain(depth, fan_out)))
            for depth in range(5, 9) for fan_out in range(4, 11) for scale in (1, 4)]
    attacks = [defer.ensureDeferred(get_from(f"127.0.0.{2 + n % 5}", url)) for n, url in enumerate(urls)]
    victim = defer.ensureDeferred(get_from("127.0.0.9", f"{daemon.url}/wheel/demo/badge.png?label=victim"))
    answers = await defer.gatherResults(attacks + [victim])
    assert [response.code for response, _ in answers] == [200] * len(answers)
    assert all(body[:4] == b"\x89PNG" for _, body in answers)
    assert daemon.children() == [pid] and "restart" not in daemon.log_text()
