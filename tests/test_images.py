"""The image pipeline in memory: a fake renderer, MemoryStore and a task.Clock."""

from typing import Any

import pytest
from twisted.internet import defer, task

from pypipin.cache import KEY_PREFIX, LRU, MemoryStore
from pypipin.images import Images, seal, unseal
from pypipin.lifetimes import IMAGE_TTL
from pypipin.metrics import Counters
from pypipin.renderer import RendererDown
from pypipin.request import parse
from util import FakeRenderer, drawn

SPEC = {"label": "wheel", "message": "yes", "color": "brightgreen", "style": "flat", "format": "svg", "scale": 1}


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


def result(d: defer.Deferred[Any]) -> Any:
    assert d.called, "still waiting"
    outcome = d.result
    d.addErrback(lambda _: None)
    return outcome


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
    assert {result(d) for d in waiting} == {drawn(SPEC)}
    assert len(pipeline.renderer.calls) == 1 and pipeline.counters.renders["ok"] == 1


def test_memory_then_store_then_renderer() -> None:
    shared = MemoryStore(LRU(task.Clock(), 100, 1 << 20))
    first, second = Pipeline(shared), Pipeline(shared)
    assert result(first.image(SPEC)) == drawn(SPEC)
    assert result(first.image(SPEC)) == drawn(SPEC)  # from memory
    assert first.counters.cache["images", "hit"] == 1
    assert result(second.image(SPEC)) == drawn(SPEC)  # another process: from the shared store
    assert second.renderer.calls == [] and second.counters.cache["store", "hit"] == 1
    (key,) = [key for key in shared.lru if not key.endswith(":lock")]
    assert key.startswith(KEY_PREFIX + "img:") and unseal(shared.lru.get(key)) == drawn(SPEC)


def test_images_expire_after_their_ttl() -> None:
    pipeline = Pipeline()
    result(pipeline.image(SPEC))
    pipeline.clock.advance(IMAGE_TTL - 1)
    result(pipeline.image(SPEC))
    assert len(pipeline.renderer.calls) == 1
    pipeline.clock.advance(2)  # gone from memory and from the store
    result(pipeline.image(SPEC))
    assert len(pipeline.renderer.calls) == 2


def test_a_corrupt_stored_image_is_drawn_again() -> None:
    pipeline = Pipeline()
    result(pipeline.image(SPEC))
    (key,) = pipeline.store.lru
    pipeline.store.lru.set(key, b"garbage that is long enough", 60)
    pipeline.memory.pop(key)
    assert result(pipeline.image(SPEC)) == drawn(SPEC)
    assert len(pipeline.renderer.calls) == 2


def test_failed_render_is_not_cached_and_counted() -> None:
    pipeline = Pipeline()
    pipeline.renderer.down = True
    with pytest.raises(RendererDown):
        result(pipeline.image(SPEC)).raiseException()
    assert pipeline.counters.renders["error"] == 1
    pipeline.renderer.down = False
    assert result(pipeline.image(SPEC)) == drawn(SPEC)


def test_draw_json_needs_no_renderer_and_refusals_become_render_error() -> None:
    pipeline = Pipeline()
    wanted = parse(b"/wheel/demo/badge.json", {})
    body = result(defer.ensureDeferred(pipeline.images.draw(wanted, "wheel", "yes", "brightgreen", False)))
    assert body == b'{"schemaVersion": 1, "label": "wheel", "message": "yes", "color": "brightgreen", "isError": false}'
    assert pipeline.renderer.calls == []
    pipeline.renderer.refuse = "bad"
    wanted = parse(b"/wheel/demo/badge.png", {"style": "plastic", "scale": "2"})
    body = result(defer.ensureDeferred(pipeline.images.draw(wanted, "wheel", "bad", "red", False)))
    assert [call["message"] for call in pipeline.renderer.calls] == ["bad", "render error"]
    assert body == drawn({"label": "wheel", "message": "render error", "color": "lightgrey", "style": "flat",
                          "format": "png", "scale": 1})
