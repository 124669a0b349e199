"""Per-client budgets in memory: names and renders refill and are forgotten, the global render budget, heavy clients refused first."""

from collections import Counter

from typing import Any

import pytest
from twisted.internet import defer
from twisted.internet.task import Clock

from pypipin.limits.budgets import Budgets, OverBudget


def test_budgets_per_client_refill_and_forget() -> None:
    clock = Clock()
    budgets = Budgets(clock, {"names": 30, "renders": 60}, max_buckets=3)
    for _ in range(30):
        budgets.spend("a", "names")
    with pytest.raises(OverBudget):
        budgets.spend("a", "names")
    budgets.spend("a", "renders")  # another cost, another bucket
    budgets.spend("b", "names")  # another client, another bucket
    clock.advance(2)  # 30 a minute: one back every 2 s
    budgets.spend("a", "names")
    with pytest.raises(OverBudget):
        budgets.spend("a", "names")
    budgets.spend("c", "names")
    budgets.spend("d", "names")
    budgets.spend("e", "names")  # three buckets at most, the most recently used: ("a", "names") is forgotten
    budgets.spend("a", "names")


def test_a_client_draws_two_images_at_once_and_waits_its_own_turn() -> None:
    clock = Clock()
    budgets = Budgets(clock, {"names": 30, "renders": 60})
    started: list[str] = []
    pending: list[defer.Deferred[bytes]] = []

    def draw(name: str) -> Any:
        async def go() -> bytes:
            started.append(name)
            d: defer.Deferred[bytes] = defer.Deferred()
            pending.append(d)
            return await d
        return go

    results = [defer.ensureDeferred(budgets.render("a", 1, draw(f"a{n}"))) for n in range(5)]
    other = defer.ensureDeferred(budgets.render("b", 1, draw("b0")))
    assert started == ["a0", "a1", "b0"]  # the third of a's waits; b is not behind a
    pending[0].callback(b"image")
    assert started == ["a0", "a1", "b0", "a2"] and results[0].result == b"image"
    fired = 1
    while fired < len(pending):  # each draw that ends lets the next of a's start
        pending[fired].callback(b"image")
        fired += 1
    assert fired == 6
    assert all(r.called for r in results) and other.called
    assert budgets._drawing == {}  # nothing kept for clients with no draw under way


def test_a_larger_image_costs_more() -> None:
    clock = Clock()
    budgets = Budgets(clock, {"names": 30, "renders": 60})
    drawn = lambda: defer.succeed(b"image")  # noqa: E731
    for _ in range(3):
        defer.ensureDeferred(budgets.render("a", 4, drawn))  # 16 units each: 48 of 60
    refused = defer.ensureDeferred(budgets.render("a", 4, drawn))  # 12 left
    assert refused.result.check(OverBudget)
    refused.addErrback(lambda _: None)
    for _ in range(12):
        defer.ensureDeferred(budgets.render("a", 1, drawn))
    spent = defer.ensureDeferred(budgets.render("a", 1, drawn))
    assert spent.result.value.cost == "renders"
    spent.addErrback(lambda _: None)


def test_the_global_render_budget_serves_a_light_client_through_a_crowd() -> None:
    clock = Clock()
    budgets = Budgets(clock, {"names": 30, "renders": 60}, renders_per_second=100)
    drawn = lambda: defer.succeed(b"image")  # noqa: E731
    outcomes: Counter[str] = Counter()

    def ask(client: str) -> bool:
        d = defer.ensureDeferred(budgets.render(client, 1, drawn))
        if d.called and isinstance(d.result, defer.Failure):
            outcomes[d.result.value.cost] += 1
            d.addErrback(lambda _: None)
            return False
        outcomes["drawn"] += 1
        return True

    victim = []
    for step in range(60):  # 3 s of 250 addresses asking 20 times a second each for new images
        for attacker in range(250):
            ask(f"127.0.1.{attacker}")
        if step % 10 == 5:
            victim.append(ask("victim"))
        clock.advance(0.05)
    assert victim == [True] * 6  # every new image of the client that has drawn little
    assert outcomes["drawn"] <= 100 + 100 * 3  # the burst, then 100 a second for all
    assert outcomes["global renders"] > 14000  # the crowd, refused


def test_clients_that_drew_much_leave_some_of_nodes_slots_to_the_others() -> None:
    clock = Clock()
    budgets = Budgets(clock, {"names": 30, "renders": 60}, slots=8)
    pending: list[defer.Deferred[bytes]] = []

    def hanging() -> defer.Deferred[bytes]:
        d: defer.Deferred[bytes] = defer.Deferred()
        pending.append(d)
        return d

    crowd = [f"127.0.1.{n}" for n in range(1, 51)]
    for address in crowd:  # each drew 16 images lately, half of what tells a heavy client
        for _ in range(16):
            defer.ensureDeferred(budgets.render(address, 1, lambda: defer.succeed(b"image")))
    assert budgets._under_way == 0
    tries = [defer.ensureDeferred(budgets.render(address, 1, hanging)) for address in crowd]
    assert len(pending) == 6  # half its recent share spent: each must leave 2 of the 8 slots free besides its own
    refused = [d for d in tries if d.called]
    assert len(refused) == 44 and all(d.result.value.cost == "global renders" for d in refused)
    for d in refused:
        d.addErrback(lambda _: None)
    light = defer.ensureDeferred(budgets.render("victim", 1, lambda: defer.succeed(b"image")))
    assert light.result == b"image"  # a client that drew little finds a slot at once
    for d in pending:
        d.callback(b"image")
    assert all(d.result == b"image" for d in tries if d not in refused)
    assert budgets._under_way == 0


def test_a_heavy_client_is_refused_first_while_the_renders_of_all_run_low() -> None:
    clock = Clock()
    budgets = Budgets(clock, {"names": 30, "renders": 60}, renders_per_second=16)
    for _ in range(32):  # asked for 32 images at once: the first 16 drawn, the rest refused, all counted
        defer.ensureDeferred(budgets.render("heavy", 1, lambda: defer.succeed(b"image"))).addErrback(lambda _: None)
    clock.advance(1)  # the renders of all are full again
    for _ in range(8):
        defer.ensureDeferred(budgets.render("light", 1, lambda: defer.succeed(b"image")))
    refused = defer.ensureDeferred(budgets.render("heavy", 1, lambda: defer.succeed(b"image")))
    assert refused.result.value.cost == "global renders"  # 8 of 16 left: it must leave about half
    refused.addErrback(lambda _: None)
    light = defer.ensureDeferred(budgets.render("light", 1, lambda: defer.succeed(b"image")))
    assert light.result == b"image"  # a client that drew little is still served
