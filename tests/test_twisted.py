"""pypipin._twisted against the installed Twisted, in memory: each private name still does its job.

A failure here means a Twisted upgrade moved or changed a name pypipin relies on: fix _twisted.py
(or drop the shim if Twisted now offers a public way), not this test.
"""

import socket
import time
from typing import Any

from twisted.internet import tcp
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import LogEvent, globalLogPublisher
from twisted.protocols.basic import LineReceiver
from twisted.web.client import HTTPConnectionPool
from twisted.web.http import HTTPChannel

from pypipin._twisted import one_accept_per_turn, pause_parsing, quiet_pool, request_method


class _Endpoint:
    """An endpoint that keeps the factory it is asked to connect and never connects."""

    factory: Any = None

    def connect(self, factory: Any) -> Deferred[Any]:
        self.factory = factory
        return Deferred()


def _started_factory_logs(pool: HTTPConnectionPool) -> list[LogEvent]:
    endpoint = _Endpoint()
    pool.getConnection(("http", b"example.test", 80), endpoint)
    events: list[LogEvent] = []
    globalLogPublisher.addObserver(events.append)
    try:
        endpoint.factory.doStart()
        endpoint.factory.doStop()
    finally:
        globalLogPublisher.removeObserver(events.append)
    return [event for event in events if "factory" in event.get("log_format", "")]


def test_a_default_pool_logs_each_connection_factory() -> None:
    """The noise quiet_pool removes is still there: if this fails, Twisted's pool is quiet by itself."""
    assert _started_factory_logs(HTTPConnectionPool(Clock())) != []


def test_a_quiet_pool_logs_nothing_when_its_connections_start_and_stop() -> None:
    pool = HTTPConnectionPool(Clock())
    quiet_pool(pool)
    assert _started_factory_logs(pool) == []


class _Heads(HTTPChannel):
    """Records the method request_method sees once each request's head is parsed."""

    def __init__(self) -> None:
        super().__init__()
        self.methods: list[bytes] = []

    def allHeadersReceived(self) -> None:
        self.methods.append(request_method(self))
        super().allHeadersReceived()


def test_request_method_is_the_method_of_the_request_line_before_its_body() -> None:
    channel = _Heads()
    channel.makeConnection(StringTransport())
    channel.dataReceived(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n")
    assert channel.methods == [b"POST"]


def test_http_channel_parses_lines_with_line_receiver() -> None:
    assert issubclass(HTTPChannel, LineReceiver)


class _Lines(LineReceiver):
    def __init__(self) -> None:
        self.lines: list[bytes] = []

    def lineReceived(self, line: bytes) -> None:
        self.lines.append(line)
        if line == b"pause":
            pause_parsing(self, True)


def test_pause_parsing_stops_parsing_what_was_read_already_until_resumed() -> None:
    receiver = _Lines()
    receiver.makeConnection(StringTransport())
    receiver.dataReceived(b"one\r\npause\r\nthree\r\n")
    assert receiver.lines == [b"one", b"pause"]
    pause_parsing(receiver, False)
    receiver.dataReceived(b"")
    assert receiver.lines == [b"one", b"pause", b"three"]


class _Selecting:
    """The little of a reactor a listening port and its connections ask for, all of it inert."""

    def addReader(self, reader: Any) -> None:
        pass

    def removeReader(self, reader: Any) -> None:
        pass

    def addWriter(self, writer: Any) -> None:
        pass

    def removeWriter(self, writer: Any) -> None:
        pass

    def callLater(self, delay: float, call: Any, *args: Any) -> Any:
        return Clock().callLater(delay, call, *args)


def _accepted_in_one_turn(one_at_a_time: bool) -> int:
    built: list[Any] = []
    factory = Factory.forProtocol(Protocol)
    factory.buildProtocol = lambda address: built.append(address) or Protocol()  # type: ignore[method-assign]
    port = tcp.Port(0, factory, interface="127.0.0.1", reactor=_Selecting())
    port.startListening()
    clients = [socket.create_connection(("127.0.0.1", port.getHost().port)) for _ in range(3)]
    try:
        if one_at_a_time:
            one_accept_per_turn(port)
        time.sleep(0.1)  # the kernel completes the three handshakes
        port.doRead()
        return len(built)
    finally:
        for client in clients:
            client.close()
        port.socket.close()


def test_a_port_accepts_every_waiting_connection_in_one_turn() -> None:
    """What one_accept_per_turn changes: if this fails, Twisted accepts one a turn by itself."""
    assert _accepted_in_one_turn(one_at_a_time=False) == 3


def test_a_port_made_to_take_turns_accepts_one_connection_a_turn() -> None:
    assert _accepted_in_one_turn(one_at_a_time=True) == 1
