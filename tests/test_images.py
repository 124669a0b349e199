"""The image pipeline in memory: a fake renderer, MemoryStore and a task.Clock."""

from functools import partial
from typing import Any

import pytest
from twisted.internet import defer, task

from pypipin.badges.lifetimes import IMAGE_TTL
from pypipin.badges.parsing import parse
from pypipin.data.images import Images, seal, unseal
from pypipin.data.keys import KEY_PREFIX
from pypipin.limits.budgets import RENDERS_AT_ONCE, Budgets
from pypipin.metrics import Counters
from pypipin.renderer.drawing import RendererDown
from pypipin.store.lru import LRU
from pypipin.store.memory import MemoryStore
from tests.support.deferreds import outcome
from tests.support.renders import SPEC
from tests.support.stack import FakeRenderer, Stack, drawn


class Pipeline:
    def __init__(self, store: MemoryStore | None = None) -> None:
        self.clock = task.Clock()
        self.renderer = FakeRenderer()
        self.store = store or MemoryStore(LRU(self.clock, 100, 1 << 20))
        self.memory = LRU(self.clock, 100, 1 << 20)
        self.counters = Counters()
        self.images = Images(self.clock, self.renderer, self.store, self.memory, self.counters)

    def image(self, spec: dict[str, Any]) -> defer.Deferred[bytes]:
        return defer.ensureDeferred(self.images.image(spec))


def test_seal_sees_corrupt_and_foreign_values() -> None:
    assert unseal(seal(b"<svg/>")) == b"<svg/>"
    assert unseal(None) is None
    assert unseal(b"<svg/>") is None
    assert unseal(b"x" + seal(b"<svg/>")[1:]) is None
    assert unseal(seal(b"")) is None  # too short to be an image


def test_one_render_however_many_ask_at_once() -> None:
    pipeline = Pipeline()
    pipeline.renderer.hold = defer.Deferred()
    waiting = [pipeline.image(dict(SPEC)) for _ in range(5)]
    assert not any(d.called for d in waiting)
    pipeline.renderer.hold.callback(None)
    assert {outcome(d) for d in waiting} == {drawn(SPEC)}
    assert len(pipeline.renderer.calls) == 1 and pipeline.counters.renders["ok"] == 1


def test_memory_then_store_then_renderer() -> None:
    shared = MemoryStore(LRU(task.Clock(), 100, 1 << 20))
    first, second = Pipeline(shared), Pipeline(shared)
    assert outcome(first.image(SPEC)) == drawn(SPEC)
    assert outcome(first.image(SPEC)) == drawn(SPEC)  # from memory
    assert first.counters.cache["images", "hit"] == 1
    assert outcome(second.image(SPEC)) == drawn(SPEC)  # another process: from the shared store
    assert second.renderer.calls == [] and second.counters.cache["store", "hit"] == 1
    (key,) = [key for key in shared.lru if not key.endswith(":lock")]
    assert key.startswith(KEY_PREFIX + "img:") and unseal(shared.lru.get(key)) == drawn(SPEC)


def test_images_expire_after_their_ttl() -> None:
    pipeline = Pipeline()
    outcome(pipeline.image(SPEC))
    pipeline.clock.advance(IMAGE_TTL - 1)
    outcome(pipeline.image(SPEC))
    assert len(pipeline.renderer.calls) == 1
    pipeline.clock.advance(2)  # gone from memory and from the store
    outcome(pipeline.image(SPEC))
    assert len(pipeline.renderer.calls) == 2


def test_a_corrupt_stored_image_is_drawn_again() -> None:
    pipeline = Pipeline()
    outcome(pipeline.image(SPEC))
    (key,) = pipeline.store.lru
    pipeline.store.lru.set(key, b"garbage that is long enough", 60)
    pipeline.memory.pop(key)
    assert outcome(pipeline.image(SPEC)) == drawn(SPEC)
    assert len(pipeline.renderer.calls) == 2


def test_failed_render_is_not_cached_and_counted() -> None:
    pipeline = Pipeline()
    pipeline.renderer.down = True
    with pytest.raises(RendererDown):
        outcome(pipeline.image(SPEC)).raiseException()
    assert pipeline.counters.renders["error"] == 1
    pipeline.renderer.down = False
    assert outcome(pipeline.image(SPEC)) == drawn(SPEC)


def test_draw_json_needs_no_renderer_and_refusals_become_render_error() -> None:
    pipeline = Pipeline()
    wanted = parse(b"/wheel/demo/badge.json", {})
    body = outcome(defer.ensureDeferred(pipeline.images.draw(wanted, "wheel", "yes", "brightgreen", False)))
    assert body == (
        b'{"schemaVersion": 1, "label": "wheel", "message": "yes", "color": "brightgreen", "isError": false}'
    )
    assert pipeline.renderer.calls == []
    pipeline.renderer.refuse = "bad"
    wanted = parse(b"/wheel/demo/badge.png", {"style": "plastic", "scale": "2"})
    body = outcome(defer.ensureDeferred(pipeline.images.draw(wanted, "wheel", "bad", "red", False)))
    assert [call["message"] for call in pipeline.renderer.calls] == ["bad", "render error"]
    assert body == drawn(
        {
            "label": "wheel",
            "message": "render error",
            "color": "lightgrey",
            "style": "flat",
            "format": "png",
            "scale": 1,
        }
    )


@pytest.mark.parametrize("left", [[2], [2, 3], [0]], ids=["one queued", "all queued", "one drawing"])
def test_a_draw_whose_requests_went_away_before_its_turn_is_never_rendered(left: list[int]) -> None:
    """Klein cancels a request's Deferred when its connection is lost: a render still queued for
    the client's turn is dropped; one already drawing finishes."""
    pipeline = Pipeline()
    budgets = Budgets(pipeline.clock, {"names": 60, "renders": 60})
    pay = partial(budgets.render, "127.0.0.2", 1)
    pipeline.renderer.hold = defer.Deferred()
    specs = [dict(SPEC, label=f"new{n}") for n in range(RENDERS_AT_ONCE + 2)]
    asked = [defer.ensureDeferred(pipeline.images.image(spec, pay=pay, shared=False)) for spec in specs]
    assert [call["label"] for call in pipeline.renderer.calls] == ["new0", "new1"]
    for n in left:
        asked[n].cancel()
        assert isinstance(outcome(asked[n]).value, defer.CancelledError)
    pipeline.renderer.hold.callback(None)
    stayed = [n for n in range(len(specs)) if n not in left]
    queued = [f"new{n}" for n in stayed if n >= RENDERS_AT_ONCE]
    assert [call["label"] for call in pipeline.renderer.calls] == ["new0", "new1"] + queued
    assert all(outcome(asked[n]) == drawn(specs[n]) for n in stayed)
    assert pipeline.counters.renders["abandoned"] == sum(n >= RENDERS_AT_ONCE for n in left)
    assert pipeline.counters.renders["ok"] == len(stayed) + sum(n < RENDERS_AT_ONCE for n in left)


def test_a_draw_still_wanted_by_one_of_its_requests_is_rendered() -> None:
    pipeline = Pipeline()
    budgets = Budgets(pipeline.clock, {"names": 60, "renders": 60})
    pay = partial(budgets.render, "127.0.0.2", 1)
    pipeline.renderer.hold = defer.Deferred()
    first = [
        defer.ensureDeferred(pipeline.images.image(dict(SPEC, label=f"busy{n}"), pay=pay, shared=False))
        for n in range(RENDERS_AT_ONCE)
    ]
    twice = [
        defer.ensureDeferred(pipeline.images.image(dict(SPEC, label="queued"), pay=pay, shared=False))
        for _ in range(2)
    ]
    twice[0].cancel()
    assert isinstance(outcome(twice[0]).value, defer.CancelledError)
    pipeline.renderer.hold.callback(None)
    assert outcome(twice[1]) == drawn(dict(SPEC, label="queued")) and all(outcome(d) for d in first)
    assert [call["label"] for call in pipeline.renderer.calls][-1] == "queued"
    assert pipeline.counters.renders["abandoned"] == 0


def test_a_request_whose_connection_went_away_is_never_drawn() -> None:
    """Through Klein: a lost connection cancels the request, and its render still queued behind the
    client's draws under way is dropped (issue 17: paid renders kept queuing after their client left)."""
    stack = Stack()
    stack.upstream.add("pkg")
    stack.renderer.hold = defer.Deferred()
    asked = [stack.request(f"/v/pkg/badge.png?label=l{n}") for n in range(RENDERS_AT_ONCE + 2)]
    stack.advance(0.1)
    assert [call["label"] for call in stack.renderer.calls] == ["l0", "l1"]
    asked[-1].cancel()  # the client closes its connection
    stack.advance(0.1)
    stack.renderer.hold.callback(None)
    answers = stack.settle(defer.gatherResults(asked[:-1]), 1)
    assert [answer.code for answer in answers] == [200] * (len(asked) - 1)
    assert [call["label"] for call in stack.renderer.calls] == ["l0", "l1", "l2"]
    assert stack.counters.renders == {"ok": 3, "abandoned": 1}
    asked[-1].addErrback(lambda _: None)
