"""Limits in memory: who the client is, per-client budgets, 429 probes, the listener's caps,
head deadline and method check (Twisted's own HTTP parser on a string transport, a fake clock)."""

from collections import Counter
from ipaddress import ip_network

from typing import Any

import pytest
from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransportWithDisconnection
from twisted.web.resource import Resource
from twisted.web.server import Site

from pypipin.limits import Budgets, Listener, OverBudget, client_of, max_connections
from pypipin.ratelimit import PROBE_SECONDS, Gate

PROXIES = (ip_network("127.0.0.1/32"), ip_network("10.0.0.0/8"), ip_network("::1/128"))


@pytest.mark.parametrize("peer, forwarded, client", [
    ("203.0.113.7", None, "203.0.113.7"),
    ("203.0.113.7", b"198.51.100.1", "203.0.113.7"),  # an untrusted peer cannot name someone else
    ("127.0.0.1", b"198.51.100.1", "198.51.100.1"),
    ("127.0.0.1", b"6.6.6.6, 198.51.100.1, 10.1.2.3", "198.51.100.1"),  # the left part is the client's own claim
    ("127.0.0.1", b"10.0.0.9, 10.1.2.3", "10.0.0.9"),  # all trusted: the farthest hop
    ("127.0.0.1", None, "127.0.0.1"),
    ("127.0.0.1", b"garbage", "garbage"),
    ("2001:db8:1:2:3:4:5:6", None, "2001:db8:1:2::/64"),  # a host holds a whole /64
    ("::1", b"2001:db8:1:2::9", "2001:db8:1:2::/64"),
    ("::ffff:198.51.100.4", None, "198.51.100.4"),
])
def test_client_of(peer: str, forwarded: bytes | None, client: str) -> None:
    assert client_of(peer, forwarded, PROXIES) == client


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


def test_gate_probes_once_in_a_while_during_a_pause() -> None:
    clock = Clock()
    gate = Gate(clock)
    gate.pause(60)
    assert not gate.probe()  # the 429 was the last look
    clock.advance(PROBE_SECONDS)
    assert gate.probe() and not gate.probe()
    clock.advance(PROBE_SECONDS)
    assert gate.probe()
    gate.resume()
    assert gate.paused_for() == 0


class Hello(Resource):
    isLeaf = True
    seen: list[bytes] = []

    def render(self, request) -> bytes:  # type: ignore[no-untyped-def]
        self.seen.append(request.method)
        return b"hello"


def listener(clock: Clock, per_address: int = 2, total: int = 3) -> Listener:
    return Listener(Site(Hello(), reactor=clock), per_address, total, PROXIES, head_timeout=10, idle_timeout=15)


def connect(clock: Clock, peer: str = "203.0.113.7", factory: Listener | None = None) -> tuple[object, StringTransportWithDisconnection]:
    factory = factory or listener(clock)
    address = IPv4Address("TCP", peer, 40000)
    protocol = factory.buildProtocol(address)
    transport = StringTransportWithDisconnection(peerAddress=address)
    if protocol is not None:
        transport.protocol = protocol
        protocol.makeConnection(transport)
    return protocol, transport


def test_other_methods_get_405_from_the_head_alone() -> None:
    clock = Clock()
    Hello.seen = []
    protocol, transport = connect(clock)
    channel = protocol
    protocol.dataReceived(b"POST /v/x/badge.svg HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n" + b"x" * 1000)
    answer = transport.value()
    assert answer.startswith(b"HTTP/1.1 405 ") and b"\r\nAllow: GET, HEAD\r\n" in answer
    assert not transport.connected and Hello.seen == []
    assert channel.requests[0].content is None  # no body spooled, not even the first bytes
    for method in (b"PUT", b"DELETE", b"FOO", b"OPTIONS"):
        protocol, transport = connect(clock)
        protocol.dataReceived(method + b" / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert transport.value().startswith(b"HTTP/1.1 405 ") and Hello.seen == []


def test_get_and_head_are_served_and_kept_alive() -> None:
    clock = Clock()
    Hello.seen = []
    protocol, transport = connect(clock)
    protocol.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nHEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert transport.value().count(b"HTTP/1.1 200 OK") == 2 and transport.connected
    assert Hello.seen == [b"GET", b"HEAD"]


def test_a_request_head_has_a_deadline_however_slowly_it_trickles() -> None:
    clock = Clock()
    protocol, transport = connect(clock)
    protocol.dataReceived(b"GET / HTTP/1.1\r\n")
    for _ in range(9):  # a byte a second keeps the idle timeout away, not the head deadline
        clock.advance(1)
        protocol.dataReceived(b"X")
    assert transport.connected
    clock.advance(1)
    assert transport.value().startswith(b"HTTP/1.1 408 ") and not transport.connected


def test_an_idle_connection_is_closed_and_a_served_one_gets_a_new_deadline() -> None:
    clock = Clock()
    protocol, transport = connect(clock)
    protocol.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    clock.advance(12)  # idle after a response: no head deadline until the next request's first byte
    assert transport.connected
    clock.advance(3)  # 15 s idle
    assert not transport.connected


def test_connection_caps_per_address_and_in_total() -> None:
    clock = Clock()
    caps = listener(clock)
    first = [connect(clock, "203.0.113.7", caps) for _ in range(3)]
    assert [protocol is not None for protocol, _ in first] == [True, True, False]
    other, _ = connect(clock, "203.0.113.8", caps)
    assert other is not None
    assert connect(clock, "203.0.113.9", caps)[0] is None  # 3 in all
    first[0][1].loseConnection()
    again, _ = connect(clock, "203.0.113.7", caps)
    assert again is not None and caps.refused == {"address": 1, "total": 1}


def test_an_ipv6_64_is_one_address() -> None:
    clock = Clock()
    caps = listener(clock, per_address=2, total=10)
    built = []
    for n in range(3):
        address = IPv6Address("TCP", f"2001:db8:1:2::{n + 1}", 40000)
        built.append(caps.buildProtocol(address))
    assert [protocol is not None for protocol in built] == [True, True, False]
    assert caps.buildProtocol(IPv6Address("TCP", "2001:db8:1:3::1", 40000)) is not None


def test_trusted_proxies_have_no_per_address_cap() -> None:
    clock = Clock()
    caps = listener(clock, per_address=1, total=10)
    assert all(connect(clock, "10.0.0.1", caps)[0] is not None for _ in range(5))


def test_max_connections_default_fits_the_open_files_limit() -> None:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert max_connections(500) == 500
    assert max_connections(0) == max(64, soft - 224)


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
