"""/metrics' ACL in memory: every request target the app routes to it, from clients seen directly
and through trusted proxies, sent as raw bytes (a client library would normalise the target)."""

import pytest
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.testing import StringTransport
from twisted.web.server import Site

from tests.support.hostile import METRICS_TARGETS
from tests.support.stack import Stack


def answer(stack: Stack, target: bytes, peer: str = "127.0.0.1", forwarded: bytes = b"") -> bytes:
    """What the app sends for a raw GET of ``target`` from ``peer``, with that X-Forwarded-For if given."""
    address = (IPv6Address if ":" in peer else IPv4Address)("TCP", peer, 40000)
    transport = StringTransport(peerAddress=address)
    channel = Site(stack.resource).buildProtocol(None)
    channel.makeConnection(transport)
    header = b"X-Forwarded-For: " + forwarded + b"\r\n" if forwarded else b""
    channel.dataReceived(
        b"GET " + target + b" HTTP/1.1\r\nHost: badges.test\r\nConnection: close\r\n" + header + b"\r\n"
    )
    stack.advance(0.1)
    return transport.value()


@pytest.fixture(scope="module")
def stack() -> Stack:
    return Stack()


@pytest.mark.parametrize("target", METRICS_TARGETS)
def test_no_variant_of_metrics_reaches_a_client_outside_the_acl(stack: Stack, target: bytes) -> None:
    for peer, forwarded in [
        ("127.0.0.1", b"203.0.113.9"),
        ("127.0.0.1", b"127.0.0.1, 203.0.113.9"),
        ("203.0.113.9", b""),
        ("203.0.113.9", b"127.0.0.1"),
        ("::1", b"2001:db8::7"),
        ("2001:db8::7", b""),
        ("::ffff:203.0.113.9", b""),
        ("127.0.0.1", b"not-an-address"),
    ]:
        sent = answer(stack, target, peer, forwarded)
        refused = sent.startswith((b"HTTP/1.1 403", b"HTTP/1.1 404", b"HTTP/1.1 400"))
        assert refused, (peer, forwarded, sent[:200])
        assert b"pypipin_" not in sent and b"python_info" not in sent


@pytest.mark.parametrize("target", [b"/metrics", b"//metrics", b"/%6detrics", b"/metrics?x"])
def test_metrics_are_served_to_a_client_inside_the_acl_directly_or_through_a_trusted_proxy(
    stack: Stack, target: bytes
) -> None:
    # a trusted proxy (127.0.0.1) may pass on a local client
    for peer, forwarded in [
        ("127.0.0.1", b""),
        ("127.0.0.1", b"127.0.0.1"),
        ("::1", b""),
        ("::ffff:127.0.0.1", b""),
    ]:
        sent = answer(stack, target, peer, forwarded)
        assert sent.startswith(b"HTTP/1.1 200") and b"pypipin_requests_total" in sent, (peer, forwarded)


def test_the_refusal_says_which_option_lets_a_client_in(stack: Stack) -> None:
    sent = answer(stack, b"//metrics", "127.0.0.1", b"203.0.113.9")
    assert sent.startswith(b"HTTP/1.1 403") and b"--metrics-allow" in sent and b"no-store" in sent.lower()
