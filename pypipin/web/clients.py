"""Who a request counts against: its peer, or the client a trusted proxy names."""

from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

from twisted.internet.interfaces import IAddress
from twisted.web.iweb import IRequest

Network = IPv4Network | IPv6Network


def is_trusted(address: str, trusted: Iterable[Network]) -> bool:
    try:
        parsed = ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in trusted)


def client_of(peer: str, forwarded: bytes | None, trusted: tuple[Network, ...]) -> str:
    """Who a request counts against: ``client_address``, IPv6 clients by their /64, since one
    host usually holds a whole /64."""
    return grouped(client_address(peer, forwarded, trusted))


def client_address(peer: str, forwarded: bytes | None, trusted: tuple[Network, ...]) -> str:
    """A request's client: its peer address or, when the peer is a trusted proxy, the nearest
    address in ``X-Forwarded-For`` (read right to left) that is not a trusted proxy."""
    client = peer
    if forwarded and is_trusted(peer, trusted):
        hops = [hop.strip() for hop in forwarded.decode("latin-1").split(",")]
        for hop in reversed(hops):
            client = hop
            if not is_trusted(hop, trusted):
                break
    return client


def grouped(host: str) -> str:
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


def client(request: IRequest, trusted: tuple[Network, ...]) -> str:
    """Who ``request`` counts against (see ``client_of``; ``trusted``: the trusted proxies)."""
    return client_of(peer_host(request.getClientAddress()), request.getHeader(b"X-Forwarded-For"), trusted)
