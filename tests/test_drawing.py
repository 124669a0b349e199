"""The renderer client in memory (a stand-in node): the wait for a slot, specs a node death shared, specs
never sent again."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

from pypipin.renderer.drawing import QUEUE_WAIT, Abandoned, Renderer, RendererBusy, RenderFailed
from pypipin.waiting import poll_until, sleep
from tests.support.logos import clip_chain
from tests.support.renders import data_url, spec, timed


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
    """The labels held once ``count`` renders are held (waiting up to 10 s), after 0.3 s more to see no more
    come."""
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
async def test_a_freed_slot_goes_to_the_client_that_drew_least_and_an_unwanted_render_is_not_sent(
    stand_in: tuple[StandIn, int],
) -> None:
    fake, port = stand_in
    renderer = Renderer(reactor, port, renders=1)
    wanted = {"gone": True}
    first = defer.ensureDeferred(renderer.render(spec("first")))
    assert await held(fake, 1) == ["first"]
    heavy = defer.ensureDeferred(renderer.render(spec("heavy"), spent=0.9))
    gone = defer.ensureDeferred(timed(renderer.render(spec("gone"), 0.0, lambda: wanted["gone"])))
    light = defer.ensureDeferred(renderer.render(spec("light"), spent=0.1))
    wanted["gone"] = False  # every request for it went away while it waited
    fake.answer("first")
    assert await first == b"drawn first"
    _, outcome = await gone
    assert isinstance(outcome, Abandoned)  # its slot came first, and it was not sent
    assert await held(fake, 1) == ["light"]  # then the client that drew less than the one that came first
    fake.answer("light")
    assert await light == b"drawn light"
    assert await held(fake, 1) == ["heavy"]
    fake.answer("heavy")
    assert await heavy == b"drawn heavy" and fake.received == ["first", "light", "heavy"]
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
async def test_a_spec_is_not_sent_again_once_node_died_under_it_twice(
    stand_in: tuple[StandIn, int], dies_again: bool
) -> None:
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
async def test_a_logo_node_died_under_is_not_sent_again_under_new_labels(
    stand_in: tuple[StandIn, int],
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
    other = {
        label: defer.ensureDeferred(renderer.render(spec(label, fmt, scale, each)))
        for label, fmt, scale, each in others
    }
    assert await held(fake, 3) == ["no logo", "scale 2", "svg"]
    for label in other:
        fake.answer(label)
        assert await other[label] == b"drawn " + label.encode()
    assert sorted(fake.received) == ["first", "first", "no logo", "scale 2", "svg"]
    renderer.pool.closeCachedConnections()
