"""A txredisapi connection to the Redis of a URL: TLS, ACL user, password file, and its state."""

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


class Watcher(Protocol):
    """Told when the connection becomes usable and when it is lost or refused, and why."""

    def up(self) -> None: ...

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


def address(url: str, password_file: str = "") -> Address:
    """The parts of a ``redis://`` or ``rediss://`` URL; a password file wins over the URL's password,
    unless it is empty (as systemd's unit has it when Redis needs none)."""
    parts = urlsplit(url)
    password = unquote(parts.password) if parts.password is not None else None
    if password_file:
        with open(password_file, encoding="utf-8") as file:
            password = file.read().rstrip("\r\n") or password
    return Address(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 6379,
        db=int(parts.path.strip("/") or 0),
        tls=parts.scheme == "rediss",
        username=unquote(parts.username) if parts.username else None,
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
            self.watcher.up()


@dataclass(repr=False)
class _Noting:
    """An endpoint that tells the watcher why a connection attempt failed."""

    endpoint: IStreamClientEndpoint
    watcher: Watcher
    where: Address

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


def connect(reactor: Any, where: Address, ca_file: str, timeout: float, watcher: Watcher) -> Any:
    """A txredisapi handler on one pipelined connection, reconnecting with back-off.

    Each reply gets ``timeout`` seconds (txredisapi then drops the connection, so a late
    reply is never matched to another command).
    """
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
