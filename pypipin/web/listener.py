"""The listener: connection caps, request and response deadlines, what is answered from the head alone."""

import resource
import socket
from collections import Counter
from typing import Any, Protocol, cast

from twisted.internet.interfaces import IAddress, ISystemHandle
from twisted.internet.protocol import ServerFactory, connectionDone
from twisted.python.failure import Failure
from twisted.web.http import HTTPChannel
from twisted.web.http_headers import Headers
from twisted.web.iweb import IRequest
from twisted.web.server import Site

from pypipin._twisted import pause_parsing, request_method
from pypipin.web.clients import Network, grouped, is_trusted, peer_host

METHODS = (b"GET", b"HEAD")


# file descriptors kept back from --max-connections' automatic value (Redis, upstream and
# renderer pools, node's pipes, log files, the listener itself)
RESERVED_FDS = 224


NOT_ALLOWED = (
    b"HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"X-Content-Type-Options: nosniff\r\nContent-Length: 28\r\nConnection: close\r\n\r\n"
    b"Only GET and HEAD are served"
)


BODY_REFUSED = (
    b"HTTP/1.1 413 Content Too Large\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"X-Content-Type-Options: nosniff\r\nContent-Length: 33\r\nConnection: close\r\n\r\n"
    b"A GET or HEAD request has no body"
)


LATE = b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


# the kernel's buffer of unsent answers on a connection (Linux doubles it) instead of up to 4 MiB: a client
# that reads nothing gets ~100 answers before the listener stops reading it, not ~3,000
SEND_BUFFER = 65536


IN_A_ROW = 16  # pipelined requests answered at once before other connections get the reactor


class _Connection(Protocol):
    """What a channel asks of its TCP transport beyond ``ITransport``."""

    def write(self, data: bytes) -> None: ...
    def abortConnection(self) -> None: ...
    def pauseProducing(self) -> None: ...
    def resumeProducing(self) -> None: ...


class Channel(HTTPChannel):
    """HTTP/1.1 with deadlines for each request and response, no body read, and bounded pipelining.

    The head deadline runs from the first byte of a request to its end (body bytes count; a
    GET or HEAD with a body, and any other method, is answered from the head alone and the
    connection closes). The response deadline runs while a response is owed: from a request's
    end until its response is written and the transport's buffer has drained; past it the
    connection is aborted. While the transport's buffer is full (the client reads nothing),
    neither more bytes are read nor pipelined requests parsed; the kernel's send buffer is
    ``SEND_BUFFER``. At most ``IN_A_ROW`` pipelined requests are answered before other
    connections' turn. The idle timeout (``timeOut``, set by the Site) closes a connection that
    sends nothing.

    Two Twisted names without a public twin are used, through ``pypipin._twisted``: the method
    HTTPChannel parsed from the request line (a Request learns it only once its body is read),
    and LineReceiver's ``paused`` flag, the one way to stop it parsing bytes it has read already.
    """

    head_timeout = 10.0
    response_timeout = 30.0
    _head_timer: Any = None
    _response_timer: Any = None
    _refused = False  # answered from the head alone: nothing more is parsed
    _handling = False  # a request is complete and its response not finished
    _full = False  # the transport's buffer is over its mark: the client is not reading
    _answered = 0
    _turn: Any = None  # the call that parses more pipelined requests after other connections' turn

    def connectionMade(self) -> None:
        super().connectionMade()
        handle = ISystemHandle(self.transport, None)
        sock = None if handle is None else handle.getHandle()
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)

    @property
    def _connection(self) -> _Connection:
        """The TCP transport (set from connectionMade on)."""
        return cast(_Connection, self.transport)

    def dataReceived(self, data: bytes) -> None:
        if self._head_timer is None and not self._handling and data:
            self._head_timer = self.callLater(self.head_timeout, self._head_late)
        super().dataReceived(data)

    def _head_late(self) -> None:
        self._head_timer = None
        if self._refused:  # its answer is written already
            self._connection.abortConnection()
            return
        self._connection.write(LATE)
        self.loseConnection()

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            if self._head_timer.active():
                self._head_timer.cancel()
            self._head_timer = None

    def allHeadersReceived(self) -> None:
        refusal = self._refusal(self.requests[-1].requestHeaders)
        if refusal is not None:
            self._refused = True
            self._connection.write(refusal)
            self.loseConnection()
            return
        super().allHeadersReceived()

    def _refusal(self, headers: Headers) -> bytes | None:
        """The answer to a request that is not served, from its head alone; None for one that is."""
        if request_method(self) not in METHODS:
            return NOT_ALLOWED
        lengths = headers.getRawHeaders(b"Content-Length", [])  # digits only: Twisted answered 400 otherwise
        if headers.hasHeader(b"Transfer-Encoding") or any(int(length) for length in lengths):
            return BODY_REFUSED
        return None

    def lineReceived(self, line: bytes) -> None:
        if not self._refused:
            super().lineReceived(line)

    def rawDataReceived(self, data: bytes) -> None:
        if not self._refused:
            super().rawDataReceived(data)

    def allContentReceived(self) -> None:
        if self._refused:
            return
        self._stop_head_timer()
        self._handling = True
        self._watch_response()
        super().allContentReceived()

    def requestDone(self, request: IRequest) -> None:
        self._handling = False
        self._watch_response()
        super().requestDone(request)  # may parse and answer the next pipelined requests at once
        self._answered += 1
        if self._answered % IN_A_ROW == 0 and self.persistent and self._turn is None and not self._full:
            pause_parsing(self, True)  # the next pipelined request is parsed in the reactor's next turn
            self._connection.pauseProducing()
            self._turn = self.callLater(0, self._next_turn)

    def _next_turn(self) -> None:
        self._turn = None
        if not self._full:  # else resumeProducing goes on once the client reads
            pause_parsing(self, False)
            if not self._handling:
                self._connection.resumeProducing()
            self.dataReceived(b"")

    def pauseProducing(self) -> None:
        """The transport's buffer is full: read and parse nothing more until it drains."""
        self._full = True
        pause_parsing(self, True)  # parse no further buffered request
        self._connection.pauseProducing()  # HTTPChannel keeps reading while a request is handled
        super().pauseProducing()
        self._watch_response()

    def resumeProducing(self) -> None:
        self._full = False
        pause_parsing(self, False)
        super().resumeProducing()  # reads again, unless a request is being handled
        self._watch_response()
        self.dataReceived(b"")  # the requests read before the pause

    def _watch_response(self) -> None:
        """The response deadline runs while a response is owed (handled, or not drained yet)."""
        owed = self._handling or self._full
        if owed and self._response_timer is None:
            self._response_timer = self.callLater(self.response_timeout, self._response_late)
        elif not owed and self._response_timer is not None:
            if self._response_timer.active():
                self._response_timer.cancel()
            self._response_timer = None

    def _response_late(self) -> None:
        self._response_timer = None
        self._connection.abortConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._stop_head_timer()
        if self._turn is not None and self._turn.active():
            self._turn.cancel()
        self._handling = self._full = False
        self._watch_response()
        super().connectionLost(reason)
        self.closed()

    def closed(self) -> None:
        """Called once the connection is gone (the listener counts open connections with it)."""


def max_connections(configured: int) -> int:
    """``configured``, or for 0 the open-files limit less ``RESERVED_FDS`` (800 for 1,024)."""
    if configured:
        return configured
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(64, soft - RESERVED_FDS)


class Listener(ServerFactory):
    """``site`` behind caps on open connections: ``per_address`` from one peer address (an IPv6
    /64; trusted proxies excepted) and ``total``; its connections speak ``Channel``, idle at most
    ``idle_timeout`` s, a response owed at most ``response_timeout`` s.

    A connection over a cap is closed as soon as it is accepted, before a byte is read. The
    channels themselves tell the listener when they close (no wrapper on the hot path).
    """

    noisy = False  # the Site inside logs its own start and stop

    def __init__(
        self,
        site: Site,
        per_address: int,
        total: int,
        trusted: tuple[Network, ...],
        head_timeout: float = 10.0,
        idle_timeout: float = 15.0,
        refused: Counter[str] | None = None,
        response_timeout: float = 30.0,
    ) -> None:
        site.protocol = Channel  # type: ignore[method-assign,assignment]  # Site documents this; typed for H2
        site.timeOut = idle_timeout
        self.site = site
        self.per_address = per_address
        self.total = total
        self.head_timeout = head_timeout
        self.response_timeout = response_timeout
        self._trusted = trusted
        self._open: dict[str, int] = {}
        self.connections = 0
        self.refused: Counter[str] = Counter() if refused is None else refused  # by cap: address, total

    def doStart(self) -> None:
        self.site.doStart()

    def doStop(self) -> None:
        self.site.doStop()

    def buildProtocol(self, addr: IAddress) -> Any:  # type: ignore[override]  # a port passes the peer's address
        peer = peer_host(addr)
        host = grouped(peer)
        count = self._open.get(host, 0)
        if self.connections >= self.total:
            self.refused["total"] += 1
            return None  # Twisted closes the socket at once
        if count >= self.per_address and not is_trusted(peer, self._trusted):
            self.refused["address"] += 1
            return None
        channel = self.site.buildProtocol(addr)
        self._open[host] = count + 1
        self.connections += 1
        channel.head_timeout = self.head_timeout
        channel.response_timeout = self.response_timeout
        channel.closed = lambda: self._closed(host)
        return channel

    def _closed(self, host: str) -> None:
        self.connections -= 1
        left = self._open.get(host, 1) - 1
        if left > 0:
            self._open[host] = left
        else:
            self._open.pop(host, None)
