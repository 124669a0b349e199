"""The listener in memory: connection caps, request and response deadlines, what the head alone answers,
pipelining (Twisted's own HTTP parser on a string transport, a fake clock)."""

from typing import Any, ClassVar

import pytest
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport, StringTransportWithDisconnection
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

from pypipin.web.listener import IN_A_ROW, SEND_BUFFER, Listener, max_connections
from tests.support.stack import PROXIES


class Hello(Resource):
    isLeaf = True
    seen: ClassVar[list[bytes]] = []

    def render(self, request) -> bytes:  # type: ignore[no-untyped-def]
        self.seen.append(request.method)
        return b"hello"


def listener(clock: Clock, per_address: int = 2, total: int = 3) -> Listener:
    return Listener(
        Site(Hello(), reactor=clock), per_address, total, PROXIES, head_timeout=10, idle_timeout=15
    )


def connect(
    clock: Clock, peer: str = "203.0.113.7", factory: Listener | None = None
) -> tuple[object, StringTransportWithDisconnection]:
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
    protocol.dataReceived(
        b"POST /v/x/badge.svg HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n" + b"x" * 1000
    )
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


@pytest.mark.parametrize(
    "head",
    [
        b"GET /v/x/badge.svg HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n",
        b"GET /v/x/badge.svg HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n",
    ],
)
def test_a_get_or_head_with_a_body_gets_413_from_the_head_alone(head: bytes) -> None:
    clock = Clock()
    Hello.seen = []
    protocol, transport = connect(clock)
    protocol.dataReceived(head + b"1000\r\n" + b"x" * 5000 + b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert transport.value().startswith(b"HTTP/1.1 413 ") and transport.value().endswith(b"has no body")
    assert not transport.connected and Hello.seen == []
    assert protocol.requests[0].content is None  # nothing spooled, not even the first bytes


def test_a_get_with_an_empty_body_is_served() -> None:
    clock = Clock()
    Hello.seen = []
    protocol, transport = connect(clock)
    protocol.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    assert transport.value().startswith(b"HTTP/1.1 200 ") and Hello.seen == [b"GET"]


def test_a_refused_request_whose_answer_is_not_read_is_dropped_at_the_head_deadline() -> None:
    clock = Clock()
    factory = listener(clock)
    protocol = factory.buildProtocol(IPv4Address("TCP", "203.0.113.7", 40000))
    transport = StringTransport()  # closing waits for the answer to be sent, as on a socket the client leaves
    protocol.makeConnection(transport)
    protocol.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nx")
    assert transport.value().startswith(b"HTTP/1.1 413 ") and not transport.disconnected
    clock.advance(10)
    assert transport.disconnected and transport.value().count(b"HTTP/1.1") == 1  # aborted, no 408 after 413


class Full(StringTransportWithDisconnection):
    """A socket whose client reads nothing: past ``mark`` unsent bytes, it pauses its producer
    (as Twisted's transports do) until ``drain`` empties it."""

    mark = 4096

    def write(self, data: bytes) -> None:
        super().write(data)
        self._check()

    def writeSequence(self, data: Any) -> None:
        super().writeSequence(data)
        self._check()

    def _check(self) -> None:
        if len(self.value()) > self.mark and not getattr(self, "full", False):
            self.full = True
            self.producer.pauseProducing()

    def drain(self) -> int:
        answers = self.value().count(b"HTTP/1.1 200 ")
        self.clear()
        self.full = False
        self.producer.resumeProducing()
        return answers


def connect_full(factory: Listener) -> tuple[Any, Full]:
    address = IPv4Address("TCP", "203.0.113.7", 40000)
    protocol = factory.buildProtocol(address)
    transport = Full(peerAddress=address)
    transport.protocol = protocol
    protocol.makeConnection(transport)
    return protocol, transport


def fill(clock: Clock, transport: Full) -> None:
    """Let the reactor turn until the answers fill ``transport``."""
    for _ in range(100):
        if getattr(transport, "full", False):
            return
        clock.advance(0)
    raise AssertionError("never full")


def test_pipelined_requests_are_answered_a_few_at_a_time_between_other_connections() -> None:
    clock = Clock()
    Hello.seen = []
    protocol, transport = connect(clock)
    protocol.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 40)
    assert len(Hello.seen) == IN_A_ROW and transport.producerState == "paused"
    assert 0 in [call.getTime() for call in clock.getDelayedCalls()]  # the rest in the reactor's next turns
    clock.advance(0)
    assert len(Hello.seen) == 40 and transport.value().count(b"HTTP/1.1 200 OK") == 40
    assert transport.producerState == "producing" and transport.connected


def test_pipelined_requests_are_not_read_or_answered_while_the_client_reads_nothing() -> None:
    clock = Clock()
    Hello.seen = []
    protocol, transport = connect_full(listener(clock))
    protocol.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 1000)
    fill(clock, transport)
    answered = len(Hello.seen)
    assert 0 < answered < 100 and transport.producerState == "paused"  # no more bytes read
    clock.advance(1)
    assert len(Hello.seen) == answered
    protocol.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 1000)  # what the kernel had before the pause
    assert len(Hello.seen) == answered
    drained = 0
    for _ in range(2000):
        drained += transport.drain()
        clock.advance(0)
        if drained == 2000:
            break
    assert drained == len(Hello.seen) == 2000
    assert transport.producerState == "producing" and transport.connected


def test_a_response_the_client_never_reads_drops_the_connection_at_the_response_deadline() -> None:
    clock = Clock()
    protocol, transport = connect_full(
        Listener(
            Site(Hello(), reactor=clock),
            2,
            3,
            PROXIES,
            head_timeout=10,
            idle_timeout=100,
            response_timeout=30,
        )
    )
    protocol.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 1000)
    fill(clock, transport)
    clock.advance(29)
    assert transport.connected
    clock.advance(1)
    assert transport.disconnected  # aborted: a closing connection would wait for the unread answers


class Never(Resource):
    isLeaf = True

    def render(self, request) -> Any:  # type: ignore[no-untyped-def]
        return NOT_DONE_YET


def test_a_response_under_way_has_a_deadline_too() -> None:
    clock = Clock()
    factory = Listener(
        Site(Never(), reactor=clock), 2, 3, PROXIES, head_timeout=10, idle_timeout=15, response_timeout=30
    )
    protocol, transport = connect(clock, factory=factory)
    protocol.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    clock.advance(29)  # Twisted suspends the idle timeout while a response is under way
    assert not transport.disconnected
    clock.advance(1)
    assert transport.disconnected


def test_a_finished_response_ends_the_response_deadline() -> None:
    clock = Clock()
    protocol, transport = connect(clock)
    for _ in range(4):  # 56 s in all, each response finished at once
        protocol.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        clock.advance(14)
    assert transport.connected and transport.value().count(b"HTTP/1.1 200 OK") == 4


def test_a_connection_keeps_few_unsent_answers_in_the_kernel() -> None:
    import socket

    from twisted.internet.interfaces import ISystemHandle
    from zope.interface import implementer

    @implementer(ISystemHandle)
    class Socket(StringTransportWithDisconnection):
        def __init__(self) -> None:
            super().__init__()
            self.handle = socket.socket()

        def getHandle(self) -> socket.socket:
            return self.handle

    clock = Clock()
    protocol = listener(clock).buildProtocol(IPv4Address("TCP", "203.0.113.7", 40000))
    transport = Socket()
    with transport.handle:
        transport.protocol = protocol
        protocol.makeConnection(transport)
        sent_at_most = transport.handle.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        assert sent_at_most == 2 * SEND_BUFFER  # as Linux counts it
