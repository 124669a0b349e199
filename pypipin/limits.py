"""What one client may cost: budgets for cache misses, who the client is, and listener limits.

A request that the caches answer costs nothing here. What costs beyond them (a package
name fetched from upstream, an image drawn by node) is drawn from that client's token
bucket; a client over budget gets one generic ``rate limited`` badge at once, never a queue.
What all clients share (upstream calls, node's time) is drawn through a part of it for each
client, so a shared bucket that runs low refuses the clients that spent most first.
The listener caps connections per address and in total, gives a request and its response
deadlines, answers any method but GET and HEAD, and any request with a body, from its head
alone, and reads nothing more from a client that does not read its answers.
"""

import resource
import socket
from collections import Counter, OrderedDict
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from typing import Any, Awaitable, Callable, Iterable

from twisted.internet import defer
from twisted.internet.interfaces import IAddress, IReactorTime, ISystemHandle
from twisted.internet.protocol import ServerFactory
from twisted.web.http import HTTPChannel
from twisted.web.http_headers import Headers
from twisted.web.iweb import IRequest
from twisted.web.server import Site

from pypipin.ratelimit import Gate, floor
from pypipin.upstream import Unavailable

Network = IPv4Network | IPv6Network
METHODS = (b"GET", b"HEAD")
RENDERS_AT_ONCE = 2  # a client's new images drawn at the same time
SHARE = 0.25  # of a shared upstream gate's rate and burst, the most one client may use
LARGEST_RENDER = 16  # units of the largest image (scale 4): the global renders bucket holds at least that
# what a client drew lately, against the renders of all: a bucket of LATELY_UNITS refilled at LATELY of its
# renders budget's rate, so a client that keeps asking is told from one that drew a few images once
LATELY = 0.25
LATELY_UNITS = 2 * LARGEST_RENDER
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


class OverBudget(Unavailable):
    """The client has spent its budget for ``cost``; it may try again in a few seconds."""

    def __init__(self, cost: str) -> None:
        super().__init__(f"over the {cost} budget")
        self.cost = cost


def _trusted(address: str, trusted: Iterable[Network]) -> bool:
    try:
        parsed = ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in trusted)


def client_of(peer: str, forwarded: bytes | None, trusted: tuple[Network, ...]) -> str:
    """Who a request counts against: ``client_address``, IPv6 clients by their /64, since one
    host usually holds a whole /64."""
    return _grouped(client_address(peer, forwarded, trusted))


def client_address(peer: str, forwarded: bytes | None, trusted: tuple[Network, ...]) -> str:
    """A request's client: its peer address or, when the peer is a trusted proxy, the nearest
    address in ``X-Forwarded-For`` (read right to left) that is not a trusted proxy."""
    client = peer
    if forwarded and _trusted(peer, trusted):
        hops = [hop.strip() for hop in forwarded.decode("latin-1").split(",")]
        for hop in reversed(hops):
            client = hop
            if not _trusted(hop, trusted):
                break
    return client


def _grouped(host: str) -> str:
    """An address as counted: IPv6 by its /64 (one host usually holds a whole /64), IPv4 as itself."""
    try:
        address = ip_address(host)
    except ValueError:
        return host[:64]  # not an address (a broken proxy chain, a UNIX socket): counted as that text
    if address.version == 6:
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ip_network(f"{address}/64", strict=False))
    return str(address)


def peer_host(address: IAddress) -> str:
    """The host of a TCP peer, or ``local`` for a UNIX socket."""
    return str(getattr(address, "host", "local"))


class Budgets:
    """Per-client token buckets: one for each cost (``names`` fetched upstream, ``renders`` by node),
    one for what the client drew lately, and its share of each shared upstream gate.

    ``rates[cost]`` is the refill a minute, and also the bucket's size: a client may spend a
    minute's worth at once. ``renders_per_second`` (None: no limit) bounds the images drawn for
    all clients together, and ``slots`` (node's renders at once) the draws under way, so that
    node's queue stays short. At most ``max_buckets`` buckets are remembered (about 10,000
    clients by default; the least recently used are forgotten, and the global limits still
    hold for the clients they hide).
    """

    def __init__(self, clock: IReactorTime, rates: dict[str, float], trusted: tuple[Network, ...] = (),
                 max_buckets: int = 50_000, renders_per_second: float | None = None, slots: int | None = None) -> None:
        self._clock = clock
        self._rates = rates
        self._trusted = trusted
        self._max_buckets = max_buckets
        self._clients: OrderedDict[tuple[str, str], Gate] = OrderedDict()
        self._drawing: dict[str, defer.DeferredSemaphore] = {}  # clients with draws under way
        self._all_renders = Gate(clock, renders_per_second * 60 if renders_per_second else None,
                                 burst=max(LARGEST_RENDER, renders_per_second or 0))
        self._slots = slots
        self._under_way = 0  # draws of all clients running (past their client's own turn)

    def client(self, request: IRequest) -> str:
        """Who ``request`` counts against (see ``client_of``; ``trusted``: the trusted proxies)."""
        return client_of(peer_host(request.getClientAddress()), request.getHeader(b"X-Forwarded-For"), self._trusted)

    def _bucket(self, client: str, name: str, per_minute: float | None, burst: float) -> Gate:
        """``client``'s bucket called ``name``, made full on first use (the least recently used are forgotten)."""
        key = (client, name)
        gate = self._clients.get(key)
        if gate is None:
            gate = self._clients[key] = Gate(self._clock, per_minute, burst=burst)
            if len(self._clients) > self._max_buckets:
                self._clients.popitem(last=False)
        else:
            self._clients.move_to_end(key)
        return gate

    def _budget(self, client: str, cost: str) -> Gate:
        rate = self._rates[cost]
        return self._bucket(client, cost, rate, max(1, int(rate)))

    def spend(self, client: str, cost: str, units: int = 1) -> None:
        """Take ``units`` of ``cost`` from ``client``'s budget; raise OverBudget when it has fewer."""
        if not self._budget(client, cost).admit(units):
            raise OverBudget(cost)

    def charge(self, client: str, cost: str) -> None:
        """Take one more unit of ``cost`` from ``client``, even one it does not have (paid first by the refill)."""
        self._budget(client, cost).take()

    def share(self, client: str, source: str, shared: Gate) -> Gate:
        """``client``'s part of ``shared`` (the gate of calls to ``source``): ``SHARE`` of its rate and burst."""
        per_minute = shared.rate * 60 * SHARE if shared.rate else None
        return self._bucket(client, f"upstream {source}", per_minute, max(1.0, shared.burst * SHARE))

    def account(self, client: str, cost: str) -> "Account":
        return Account(self, client, cost)

    async def render(self, client: str, scale: int, draw: Callable[[], Awaitable[bytes]]) -> bytes:
        """``draw()``, paid from ``client``'s renders budget and from the renders of all clients, with at
        most ``RENDERS_AT_ONCE`` of the client's draws under way: more wait their turn, so one client
        never has node to itself.

        An image ``scale`` times larger has ``scale``² the pixels, and costs that many units. The
        renders of all clients (a rate, and node's slots) refuse a client sooner the more it drew
        lately, so while a crowd of addresses drains them, a client that has drawn little is still
        served at once. A refused draw keeps its charge: asking is what a flood does.
        """
        units = scale * scale
        lately = self._lately(client)
        spent = lately.spent()  # before this image
        self.spend(client, "renders", units)
        lately.take(units)
        if self._no_slot(spent) or not self._all_renders.admit(units, floor(spent, self._all_renders.burst, units)):
            raise OverBudget("global renders")
        slots = self._drawing.get(client)
        if slots is None:
            slots = self._drawing[client] = defer.DeferredSemaphore(RENDERS_AT_ONCE)
        try:
            return await slots.run(lambda: defer.ensureDeferred(self._draw(draw)))
        finally:
            if slots.tokens == slots.limit:
                self._drawing.pop(client, None)

    async def _draw(self, draw: Callable[[], Awaitable[bytes]]) -> bytes:
        """``draw()``, counted in node's slots in use while it runs."""
        self._under_way += 1
        try:
            return await draw()
        finally:
            self._under_way -= 1

    def _lately(self, client: str) -> Gate:
        """What ``client`` drew, or asked to, lately (see ``LATELY``)."""
        return self._bucket(client, "renders lately", self._rates["renders"] * LATELY, LATELY_UNITS)

    def _no_slot(self, spent: float) -> bool:
        """Whether too few of node's slots are free for a client that has spent ``spent`` of what it may draw lately."""
        return bool(self._slots) and self._slots - self._under_way < 1 + int(floor(spent, self._slots))


@dataclass(frozen=True)
class Account:
    """One client's budget for one cost."""

    budgets: Budgets
    client: str
    cost: str

    def spend(self) -> None:
        """Take one unit; raise OverBudget when none is left."""
        self.budgets.spend(self.client, self.cost)

    def charge(self) -> None:
        """Take one more unit, even one not left."""
        self.budgets.charge(self.client, self.cost)

    def share(self, source: str, shared: Gate) -> Gate:
        """This client's part of the shared gate of ``source``."""
        return self.budgets.share(self.client, source, shared)


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

    Two Twisted names without a public twin are used here, and only here: ``_command``, the
    method HTTPChannel parsed from the request line (a Request learns it only once its body is
    read), and LineReceiver's ``paused`` flag (from its private ``_PauseableMixin``), the one way
    to stop it parsing bytes it has read already.
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
        if handle is not None and isinstance(handle.getHandle(), socket.socket):
            handle.getHandle().setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)

    def dataReceived(self, data: bytes) -> None:
        if self._head_timer is None and not self._handling and data:
            self._head_timer = self.callLater(self.head_timeout, self._head_late)
        super().dataReceived(data)

    def _head_late(self) -> None:
        self._head_timer = None
        if self._refused:  # its answer is written already
            self.transport.abortConnection()
            return
        self.transport.write(LATE)
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
            self.transport.write(refusal)
            self.loseConnection()
            return
        super().allHeadersReceived()

    def _refusal(self, headers: Headers) -> bytes | None:
        """The answer to a request that is not served, from its head alone; None for one that is."""
        if self._command not in METHODS:
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
            self.paused = True  # the next pipelined request is parsed in the reactor's next turn
            self.transport.pauseProducing()
            self._turn = self.callLater(0, self._next_turn)

    def _next_turn(self) -> None:
        self._turn = None
        if not self._full:  # else resumeProducing goes on once the client reads
            self.paused = False
            if not self._handling:
                self.transport.resumeProducing()
            self.dataReceived(b"")

    def pauseProducing(self) -> None:
        """The transport's buffer is full: read and parse nothing more until it drains."""
        self._full = True
        self.paused = True  # LineReceiver's own flag: parse no further buffered request
        self.transport.pauseProducing()  # HTTPChannel keeps reading while a request is handled
        super().pauseProducing()
        self._watch_response()

    def resumeProducing(self) -> None:
        self._full = False
        self.paused = False
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
        self.transport.abortConnection()

    def connectionLost(self, reason: Any) -> None:
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

    def __init__(self, site: Site, per_address: int, total: int, trusted: tuple[Network, ...],
                 head_timeout: float = 10.0, idle_timeout: float = 15.0, refused: Counter | None = None,
                 response_timeout: float = 30.0) -> None:
        site.protocol = Channel
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

    def buildProtocol(self, addr: IAddress) -> Any:
        peer = peer_host(addr)
        host = _grouped(peer)
        count = self._open.get(host, 0)
        if self.connections >= self.total:
            self.refused["total"] += 1
            return None  # Twisted closes the socket at once
        if count >= self.per_address and not _trusted(peer, self._trusted):
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
