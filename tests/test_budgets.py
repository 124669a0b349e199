"""Package data under budgets, on a fake clock: a client's charge is taken only for an upstream call,
made-up names cost more and nothing is paid back, one client uses only its share of an upstream gate,
an over-budget client gets the stale copy when there is one, and a 429 pauses only what it must.
Budgets alone: names and renders refill and are forgotten, the global render budget, heavy clients refused
first."""

from collections import Counter
from collections.abc import Mapping
from typing import Any

import pytest
from twisted.internet import defer, task
from twisted.internet.task import Clock

from pypipin.data.packages import Data, Packages
from pypipin.limits.bucket import PROBE_SECONDS, Gate
from pypipin.limits.budgets import Budgets, OverBudget
from pypipin.limits.slots import Slots
from pypipin.metrics import Counters
from pypipin.store.lru import LRU
from pypipin.store.memory import MemoryStore
from pypipin.upstream.client import Fetched, NotFound, RateLimited, Unavailable
from tests.support.deferreds import result


class Upstream:
    """Answers from ``known``; ``limited`` makes every call a 429 with Retry-After 600, ``broken`` a 502."""

    def __init__(self) -> None:
        self.known = {"real": {"version": "1.0"}, "other": {"version": "2.0"}, "third": {"version": "3.0"}}
        self.calls: list[str] = []
        self.limited = False
        self.broken = False

    def fetch(self, name: str, validators: Mapping[str, str]) -> defer.Deferred[Fetched]:
        self.calls.append(name)
        if self.limited:
            return defer.fail(RateLimited(600))
        if self.broken:
            return defer.fail(Unavailable("pypi: 502"))
        if name not in self.known:
            return defer.fail(NotFound(name))
        return defer.succeed(Fetched(self.known[name], {}))


def setup(gate: Gate | None = None) -> tuple[task.Clock, Upstream, Packages]:
    clock = task.Clock() if gate is None else gate._clock
    clock.advance(1000)
    upstream = Upstream()
    packages = Packages(
        clock,
        MemoryStore(LRU(clock, 1000, 1 << 20)),
        {"pypi": upstream.fetch},
        {"pypi": 600},
        86400,
        {"pypi": gate or Gate(clock)},
        Counters(),
        max_wait=5,
    )
    return clock, upstream, packages


def test_every_name_fetched_is_charged_and_a_made_up_one_twice() -> None:
    clock, upstream, packages = setup()
    budgets = Budgets(clock, {"names": 6})
    attacker = budgets.account("attacker", "names")
    with pytest.raises(NotFound):  # 2 units: the call, and one more for a name that does not exist
        result(packages.get("pypi", "nope-1", account=attacker))
    for name in ("real", "other", "third"):  # 1 unit each: names that exist are charged too
        assert result(packages.get("pypi", name, account=attacker)).value == upstream.known[name]
    for _ in range(5):  # cached: free, however often
        result(packages.get("pypi", "real", account=attacker))
        with pytest.raises(NotFound):
            result(packages.get("pypi", "nope-1", account=attacker))
    with pytest.raises(NotFound):  # the 6th unit pays the call; the one more is a debt
        result(packages.get("pypi", "nope-2", account=attacker))
    upstream.known["fourth"] = {"version": "4.0"}
    with pytest.raises(OverBudget):
        result(packages.get("pypi", "fourth", account=attacker))
    assert upstream.calls == ["nope-1", "real", "other", "third", "nope-2"]
    clock.advance(20)  # 6 a minute: the debt is paid, and one unit is back
    assert result(packages.get("pypi", "fourth", account=attacker)).value == {"version": "4.0"}
    with pytest.raises(NotFound):  # another client, another budget
        result(packages.get("pypi", "nope-3", account=budgets.account("victim", "names")))


def test_an_upstream_error_is_not_paid_back() -> None:
    clock, upstream, packages = setup()
    budgets = Budgets(clock, {"names": 2})
    attacker = budgets.account("attacker", "names")
    upstream.broken = True
    for name in ("real", "other"):
        with pytest.raises(Unavailable):
            result(packages.get("pypi", name, account=attacker))
    upstream.broken = False
    with pytest.raises(OverBudget):
        result(packages.get("pypi", "third", account=attacker))
    assert upstream.calls == ["real", "other"]


def test_one_client_uses_only_its_share_of_the_upstream_gate() -> None:
    gate = Gate(
        task.Clock(), per_minute=240, burst=8
    )  # 4 calls a second, bursts of 8: a client's share is 1/s, 2
    clock, upstream, packages = setup(gate)
    names = [f"flood-{n}" for n in range(8)]
    upstream.known.update({name: {"version": "1.0"} for name in names})
    budgets = Budgets(clock, {"names": 1000})
    attacker = budgets.account("attacker", "names")
    flood = [defer.ensureDeferred(packages.get("pypi", name, account=attacker)) for name in names]
    assert upstream.calls == names[:2]  # its share's burst; the rest wait for its share to refill
    for second in range(1, 7):
        victim = f"victim-{second}"
        upstream.known[victim] = {"version": "1.0"}
        assert result(packages.get("pypi", victim, account=budgets.account(victim, "names"))).value  # at once
        clock.advance(1)
        flooded = [call for call in upstream.calls if call.startswith("flood-")]
        assert len(flooded) == min(
            2 + second, 7
        )  # its share refills one a second; the 8th is past the deadline
    assert [call for call in upstream.calls if call.startswith("flood-")] == names[:7]
    assert all(d.called for d in flood)
    refused = flood[7].result
    assert isinstance(refused.value, OverBudget) and refused.value.cost == "upstream"
    flood[7].addErrback(lambda _: None)


def test_over_budget_serves_the_stale_copy() -> None:
    clock, upstream, packages = setup()
    result(packages.get("pypi", "real"))
    clock.advance(601)  # no longer fresh

    budgets = Budgets(clock, {"names": 1})
    spent = budgets.account("attacker", "names")
    result(spent.spend())
    data = result(packages.get("pypi", "real", account=spent))
    assert isinstance(data, Data) and data.stale and data.value == {"version": "1.0"}
    assert upstream.calls == ["real"]


def test_a_429_pauses_refreshes_but_new_names_still_probe() -> None:
    clock, upstream, packages = setup()
    result(packages.get("pypi", "real"))
    clock.advance(601)
    upstream.limited = True
    data = result(packages.get("pypi", "real"))  # the 429 itself: stale copy served
    assert data.stale and upstream.calls == ["real", "real"]
    clock.advance(PROBE_SECONDS)
    for _ in range(3):  # paused for 600 s: cached packages are served stale with no call
        assert result(packages.get("pypi", "real")).value == {"version": "1.0"}
    assert upstream.calls == ["real", "real"]
    upstream.limited = False
    assert result(packages.get("pypi", "other")).value == {"version": "2.0"}  # a probe, and it worked
    assert upstream.calls[-1] == "other"
    assert result(packages.get("pypi", "third")).value == {"version": "3.0"}  # the pause is over
    assert not result(packages.get("pypi", "real")).stale


def test_probes_are_rare_while_upstream_keeps_saying_429() -> None:
    clock, upstream, packages = setup()
    upstream.limited = True
    for name in ("a", "b", "c", "d"):
        with pytest.raises(RateLimited):
            result(packages.get("pypi", name))
    assert upstream.calls == ["a"]  # the first is the 429; b, c, d wait for the next probe
    clock.advance(PROBE_SECONDS)
    for name in ("e", "f"):
        with pytest.raises(RateLimited):
            result(packages.get("pypi", name))
    assert upstream.calls == ["a", "e"]


def test_budgets_per_client_refill_and_forget() -> None:
    clock = Clock()
    budgets = Budgets(clock, {"names": 30, "renders": 60}, max_buckets=3)
    for _ in range(30):
        result(budgets.spend("a", "names"))
    with pytest.raises(OverBudget):
        result(budgets.spend("a", "names"))
    result(budgets.spend("a", "renders"))  # another cost, another bucket
    result(budgets.spend("b", "names"))  # another client, another bucket
    clock.advance(2)  # 30 a minute: one back every 2 s
    result(budgets.spend("a", "names"))
    with pytest.raises(OverBudget):
        result(budgets.spend("a", "names"))
    result(budgets.spend("c", "names"))
    result(budgets.spend("d", "names"))
    # three buckets at most, the most recently used: ("a", "names") is forgotten
    result(budgets.spend("e", "names"))
    result(budgets.spend("a", "names"))


def test_a_client_draws_two_images_at_once_and_waits_its_own_turn() -> None:
    clock = Clock()
    budgets = Budgets(clock, {"names": 30, "renders": 60})
    started: list[str] = []
    pending: list[defer.Deferred[bytes]] = []

    def draw(name: str) -> Any:
        async def go(spent: float) -> bytes:
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
    drawn = lambda _: defer.succeed(b"image")  # noqa: E731
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
    drawn = lambda _: defer.succeed(b"image")  # noqa: E731
    asked: list[defer.Deferred[bytes]] = []
    victim: list[defer.Deferred[bytes]] = []
    for step in range(60):  # 3 s of 250 addresses asking 20 times a second each for new images
        for attacker in range(250):
            asked.append(defer.ensureDeferred(budgets.render(f"127.0.1.{attacker}", 1, drawn)))
        if step % 10 == 5:
            victim.append(defer.ensureDeferred(budgets.render("victim", 1, drawn)))
        clock.advance(0.05)
    clock.advance(1.0)
    assert [d.result for d in victim] == [b"image"] * 6  # every new image of the client that has drawn little
    outcomes = Counter("drawn" if d.result == b"image" else d.result.value.cost for d in asked)
    for d in asked:
        d.addErrback(lambda _: None)
    assert outcomes["drawn"] <= 100 + 100 * 3  # the burst, then 100 a second for all
    assert outcomes["global renders"] > 14000  # the crowd, refused


def test_clients_that_drew_much_leave_some_of_nodes_slots_to_the_others() -> None:
    clock = Clock()
    node = Slots(clock, 8)
    budgets = Budgets(clock, {"names": 30, "renders": 60}, slots=node)
    pending: list[defer.Deferred[bytes]] = []

    def hanging() -> defer.Deferred[bytes]:
        d: defer.Deferred[bytes] = defer.Deferred()
        pending.append(d)
        return d

    crowd = [f"127.0.1.{n}" for n in range(1, 51)]
    for address in crowd:  # each drew 16 images lately, half of what tells a heavy client
        for _ in range(16):
            defer.ensureDeferred(budgets.render(address, 1, lambda _: defer.succeed(b"image")))
    tries = [
        defer.ensureDeferred(budgets.render(address, 1, lambda spent: node.run(spent, 1.0, hanging)))
        for address in crowd
    ]
    assert (
        len(pending) == 6
    )  # half its recent share spent: each must leave 2 of the 8 slots free besides its own
    refused = [d for d in tries if d.called]
    assert len(refused) == 44 and all(d.result.value.cost == "global renders" for d in refused)
    for d in refused:
        d.addErrback(lambda _: None)
    light = defer.ensureDeferred(budgets.render("victim", 1, lambda spent: node.run(spent, 1.0, hanging)))
    assert len(pending) == 7  # a client that drew little finds a slot at once
    pending[-1].callback(b"image")
    assert light.result == b"image"
    for d in pending[:6]:
        d.callback(b"image")
    assert all(d.result == b"image" for d in tries if d not in refused)
    clock.advance(0)  # slots are handed on at the next turn
    assert node.busy == 0


def test_while_node_is_full_a_client_new_to_the_crowd_gets_the_next_slot() -> None:
    clock = Clock()
    node = Slots(clock, 4)
    budgets = Budgets(clock, {"names": 30, "renders": 60}, slots=node)
    drawing: list[tuple[str, defer.Deferred[bytes]]] = []

    def hanging(name: str) -> Any:
        def draw(spent: float) -> defer.Deferred[bytes]:
            def held() -> defer.Deferred[bytes]:
                drawing.append((name, defer.Deferred()))
                return drawing[-1][1]

            return defer.ensureDeferred(node.run(spent, 1.0, held))

        return draw

    crowd = [f"127.0.1.{n}" for n in range(1, 9)]
    for address in crowd:  # each drew 3 lately: too little to be refused for node's slots
        for _ in range(3):
            defer.ensureDeferred(budgets.render(address, 1, lambda _: defer.succeed(b"image")))
    tries = [defer.ensureDeferred(budgets.render(a, 1, hanging(a))) for a in crowd]
    assert [name for name, _ in drawing] == crowd[:4] and not any(d.called for d in tries)
    victim = defer.ensureDeferred(budgets.render("victim", 1, hanging("victim")))
    drawing[0][1].callback(b"image")
    clock.advance(0)
    assert drawing[-1][0] == "victim"  # before the 4 of the crowd that waited longer
    drawing[-1][1].callback(b"mine")
    assert victim.result == b"mine"
    clock.advance(1.0)  # the crowd's waiters still waiting give up: refused, nothing drawn
    refused = [d for d in tries[4:] if d.called]
    assert len(refused) == 3 and all(d.result.value.cost == "global renders" for d in refused)
    for d in refused:
        d.addErrback(lambda _: None)


def test_a_heavy_client_is_refused_first_while_the_renders_of_all_run_low() -> None:
    clock = Clock()
    budgets = Budgets(clock, {"names": 30, "renders": 60}, renders_per_second=16)
    for _ in range(32):  # asked for 32 images at once: the first 16 drawn, the rest refused, all counted
        defer.ensureDeferred(budgets.render("heavy", 1, lambda _: defer.succeed(b"image"))).addErrback(
            lambda _: None
        )
    clock.advance(1)  # the renders of all are full again
    for _ in range(8):
        defer.ensureDeferred(budgets.render("light", 1, lambda _: defer.succeed(b"image")))
    refused = defer.ensureDeferred(budgets.render("heavy", 1, lambda _: defer.succeed(b"image")))
    assert refused.result.value.cost == "global renders"  # 8 of 16 left: it must leave about half
    refused.addErrback(lambda _: None)
    light = defer.ensureDeferred(budgets.render("light", 1, lambda _: defer.succeed(b"image")))
    assert light.result == b"image"  # a client that drew little is still served


def test_a_light_client_waits_for_the_next_token_of_the_renders_of_all_a_heavy_one_is_refused() -> None:
    clock = Clock()
    budgets = Budgets(clock, {"names": 30, "renders": 60}, renders_per_second=16)
    drawn = lambda _: defer.succeed(b"image")  # noqa: E731
    crowd = [defer.ensureDeferred(budgets.render(f"127.0.1.{n}", 1, drawn)) for n in range(16)]
    assert [d.result for d in crowd] == [b"image"] * 16  # the renders of all: none left
    budgets._lately("heavy").take(16)  # drew half of what it may lately
    refused = defer.ensureDeferred(budgets.render("heavy", 1, drawn))
    assert refused.result.value.cost == "global renders"  # at once
    refused.addErrback(lambda _: None)
    light = defer.ensureDeferred(budgets.render("light", 1, drawn))
    assert not light.called
    clock.advance(1 / 16)  # the next token
    assert light.result == b"image"
