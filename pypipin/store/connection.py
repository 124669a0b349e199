"""A txredisapi connection to the Redis of a URL: TLS, ACL user, password file, Sentinel, and its state."""

from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import txredisapi
from OpenSSL.SSL import Error as TLSError
from twisted.internet import defer, ssl
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.python.failure import Failure

MAX_RETRY_DELAY = 15  # seconds between attempts while Redis stays unreachable or refuses us
# ... when the Sentinels name the master: asking them again is cheap, and a promotion takes seconds
SENTINEL_RETRY_DELAY = 2
DISCOVERY_SECONDS = 1.0  # how long the Sentinels are given to name the master (txredisapi waits 10 s)


class Watcher(Protocol):
    """Told when the connection becomes usable (to which ``host:port``) and when it is lost or refused, and
    why."""

    def up(self, server: str) -> None: ...

    def down(self, reason: str) -> None: ...


@dataclass(frozen=True)
class Address:
    """Where Redis is and who we are to it; ``repr`` never shows the password."""

    host: str
    port: int
    db: int
    tls: bool
    username: str | None
    password: str | None

    def __repr__(self) -> str:
        user = f"{self.username}@" if self.username else ""
        return f"{'rediss' if self.tls else 'redis'}://{user}{self.host}:{self.port}/{self.db}"


@dataclass(frozen=True)
class Sentinels:
    """A master that Sentinels name, and who we are to it; ``repr`` never shows the password."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int
    username: str | None
    password: str | None  # the master's (and its replicas'): the Sentinels are asked without one

    def __repr__(self) -> str:
        user = f"{self.username}@" if self.username else ""
        hosts = ",".join(f"{host}:{port}" for host, port in self.sentinels)
        return f"redis+sentinel://{user}{hosts}/{self.master}/{self.db}"


Where = Address | Sentinels  # what a --redis URL names


def _host_port(text: str) -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit() or not 0 < int(port) <= 65535:
        raise ValueError(f"{text!r} is not host:port")
    return host.strip("[]") or "127.0.0.1", int(port)


def _sentinels(url: str, username: str | None, password: str | None) -> Sentinels:
    """The parts of a Sentinel URL (see ``--redis``), or ValueError."""
    parts = urlsplit(url)
    master, _, db = parts.path.strip("/").partition("/")
    if not master or not (db or "0").isdigit() or parts.query or parts.fragment:
        raise ValueError(f"{url!r} is not redis+sentinel://host:port[,host:port...]/MASTER[/db]")
    return Sentinels(
        sentinels=tuple(_host_port(each) for each in parts.netloc.rpartition("@")[2].split(",")),
        master=unquote(master),
        db=int(db or 0),
        username=username,
        password=password,
    )


def address(url: str, password_file: str = "") -> Where:
    """The parts of a ``redis://``, ``rediss://`` or ``redis+sentinel://`` URL; a password file wins over
    the URL's password, unless it is empty (as systemd's unit has it when Redis needs none)."""
    parts = urlsplit(url)
    password = unquote(parts.password) if parts.password is not None else None
    if password_file:
        with open(password_file, encoding="utf-8") as file:
            password = file.read().rstrip("\r\n") or password
    username = unquote(parts.username) if parts.username else None
    if parts.scheme == "redis+sentinel":
        return _sentinels(url, username, password or None)
    return Address(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 6379,
        db=int(parts.path.strip("/") or 0),
        tls=parts.scheme == "rediss",
        username=username,
        password=password or None,
    )


def _explain(failure: Failure) -> str:
    if failure.check(TLSError):
        return f"TLS failed: {failure.value}"
    return failure.getErrorMessage()


class _Protocol(txredisapi.RedisProtocol):  # type: ignore[misc]  # txredisapi has no hints: Any
    def connectionLost(self, why: Failure) -> None:
        self.factory.lost = why  # the cause behind a failed AUTH or SELECT ("Lost connection")
        was_usable = self.connected
        super().connectionLost(why)
        if was_usable and self.factory.size == 0 and not self.factory.disconnectCalled:
            self.factory.watcher.down(_explain(why))


class _Factory(txredisapi.RedisFactory):  # type: ignore[misc]  # txredisapi has no hints: Any
    """txredisapi's pool factory, telling a ``Watcher``; a refused AUTH or handshake is retried too.

    txredisapi stops reconnecting for good after a failed AUTH or SELECT; an ACL fixed
    or a certificate renewed later should not need a restart, so we keep backing off.
    """

    protocol = _Protocol
    maxDelay = MAX_RETRY_DELAY

    def __init__(self, watcher: Watcher, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.watcher = watcher
        self.lost: Failure | None = None
        self.deferred.addErrback(lambda _: None)  # errors go to the watcher

    def stopTrying(self) -> defer.Deferred[None]:
        return defer.succeed(None)

    def buildProtocol(self, addr: Any) -> Any:
        self.lost = None  # a new attempt: what ended the last one is no cause of this one's failure
        return super().buildProtocol(addr)

    def connectionError(self, why: str) -> None:
        super().connectionError(why)
        cause = f" ({_explain(self.lost)})" if self.lost is not None else ""
        self.watcher.down(why.removeprefix("Redis error: ") + cause)

    def addConnection(self, conn: Any) -> None:
        super().addConnection(conn)
        if conn.connected and not self.disconnectCalled:
            peer = conn.transport.getPeer()
            self.watcher.up(f"{peer.host}:{peer.port}")


@dataclass(repr=False)
class _Noting:
    """An endpoint that tells the watcher why a connection attempt failed."""

    endpoint: IStreamClientEndpoint
    watcher: Watcher
    where: Where

    def __repr__(self) -> str:  # in ClientService's "Scheduling retry" lines
        return repr(self.where)

    def connect(self, factory: Any) -> defer.Deferred[Any]:
        def failed(failure: Failure) -> Failure:
            self.watcher.down(_explain(failure))
            return failure

        return self.endpoint.connect(factory).addErrback(failed)


def trust(ca_file: str) -> Any:
    """The CAs a server certificate must chain to: the PEM file's, or the system's."""
    if not ca_file:
        return ssl.platformTrust()
    with open(ca_file, encoding="ascii") as file:
        blocks = file.read().split("-----END CERTIFICATE-----")[:-1]
    return ssl.trustRootFromCertificates(
        [ssl.Certificate.loadPEM((block + "-----END CERTIFICATE-----\n").encode("ascii")) for block in blocks]
    )


def connect(reactor: Any, where: Where, ca_file: str, timeout: float, watcher: Watcher) -> Any:
    """A txredisapi handler on one pipelined connection, reconnecting with back-off.

    Each reply gets ``timeout`` seconds (txredisapi then drops the connection, so a late
    reply is never matched to another command).
    """
    if isinstance(where, Sentinels):
        return _master(reactor, where, timeout, watcher)
    endpoint: IStreamClientEndpoint = HostnameEndpoint(reactor, where.host, where.port, timeout=timeout)
    if where.tls:
        endpoint = wrapClientTLS(ssl.optionsForClientTLS(where.host, trustRoot=trust(ca_file)), endpoint)
    factory = _Factory(
        watcher,
        repr(where),
        where.db,
        1,
        isLazy=False,
        charset=None,
        password=where.password,
        replyTimeout=timeout,
        username=where.username,
    )
    factory.startConnecting(_Noting(endpoint, watcher, where))
    return factory.handler


class _MasterProtocol(_Protocol):
    """A connection to the server the Sentinels named, used only once that server says it is the master.

    txredisapi's own ``SentinelRedisProtocol`` compares ROLE's first word with the str ``"master"``; with
    ``charset=None`` (our values are bytes) the word is ``b"master"``, so it would drop every connection.
    """

    def connectionMade(self) -> Any:
        if self.password is not None:  # ROLE needs it; a refused AUTH is told by the handshake below
            self.auth(self.password, self.username).addErrback(lambda _: None)
        return self.role().addBoth(self._checked)

    def _checked(self, role: Any) -> Any:
        if isinstance(role, list) and role[:1] != [b"master"]:
            peer = self.transport.getPeer()
            self.factory.watcher.down(
                f"{peer.host}:{peer.port} is not the master yet: asking the Sentinels again"
            )
            self.connected = 0  # never usable: closing it is no second outage
            self.transport.loseConnection()
            return None
        return super().connectionMade()  # the master (or a refused AUTH): AUTH, SELECT, then usable


class _MasterFactory(_Factory, txredisapi.SentinelConnectionFactory):  # type: ignore[misc]  # no hints: Any
    """txredisapi's Sentinel factory (the master's address asked before every attempt), telling a
    ``Watcher``, closing a connection to a master Sentinel has replaced (``moved``)."""

    protocol = _MasterProtocol
    maxDelay = SENTINEL_RETRY_DELAY  # txredisapi also takes it as the connect timeout to the master

    def __init__(self, reactor: Any, where: Sentinels, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.where = where
        self.switches: list[Any] = []  # one +switch-master subscription on each Sentinel
        for host, port in where.sentinels:
            switches = txredisapi.SubscriberFactory()
            switches.protocol, switches.master = _Switches, self
            switches.startConnecting(HostnameEndpoint(reactor, host, port, timeout=self.replyTimeout))
            self.switches.append(switches)

    def startConnecting(self, endpoint: IStreamClientEndpoint) -> None:
        super().startConnecting(_Noting(endpoint, self.watcher, self.where))

    def moved(self, host: str, port: int) -> None:
        """Sentinel promoted ``host:port``: a connection elsewhere goes (the old master may still answer, as
        a replica), and the next one asks the Sentinels where the master is."""
        for conn in list(self.pool):
            peer = conn.transport.getPeer()
            if (peer.host, peer.port) != (host, port):
                conn.transport.loseConnection()

    def disconnect(self) -> defer.Deferred[Any]:
        return defer.gatherResults(
            [
                super().disconnect(),
                self.sentinel_manager.disconnect(),
                *(each.disconnect() for each in self.switches),
            ],
            consumeErrors=True,
        )


class _Switches(txredisapi.SubscriberProtocol):  # type: ignore[misc]  # txredisapi has no hints: Any
    """One Sentinel's ``+switch-master`` messages, told to the master's factory."""

    def connectionMade(self) -> Any:
        ready = defer.maybeDeferred(super().connectionMade)
        return ready.addCallback(lambda _: self.subscribe("+switch-master")).addErrback(lambda _: None)

    def messageReceived(self, pattern: Any, channel: Any, message: Any) -> None:
        # "<master name> <old ip> <old port> <new ip> <new port>"
        name, _old_host, _old_port, host, port = str(message).split()
        if name == self.factory.master.service_name:
            self.factory.master.moved(host, int(port))


def _master(reactor: Any, where: Sentinels, timeout: float, watcher: Watcher) -> Any:
    """A handler on the master the Sentinels name, following it when they promote another."""
    sentinel = txredisapi.Sentinel(list(where.sentinels), connectTimeout=timeout, replyTimeout=timeout)
    sentinel.discovery_timeout = DISCOVERY_SECONDS
    return sentinel.master_for(
        where.master,
        factory_class=_MasterFactory,
        dbid=where.db,
        reactor=reactor,
        where=where,
        watcher=watcher,
        isLazy=False,
        charset=None,
        password=where.password,
        replyTimeout=timeout,
        username=where.username,
    )
