"""Who a request counts against: the peer, or X-Forwarded-For through trusted proxies."""

import pytest

from pypipin.web.clients import client_of
from tests.support.stack import PROXIES


@pytest.mark.parametrize(
    "peer, forwarded, client",
    [
        ("203.0.113.7", None, "203.0.113.7"),
        ("203.0.113.7", b"198.51.100.1", "203.0.113.7"),  # an untrusted peer cannot name someone else
        ("127.0.0.1", b"198.51.100.1", "198.51.100.1"),
        (
            "127.0.0.1",
            b"6.6.6.6, 198.51.100.1, 10.1.2.3",
            "198.51.100.1",
        ),  # the left part is the client's own claim
        ("127.0.0.1", b"10.0.0.9, 10.1.2.3", "10.0.0.9"),  # all trusted: the farthest hop
        ("127.0.0.1", None, "127.0.0.1"),
        ("127.0.0.1", b"garbage", "garbage"),
        ("2001:db8:1:2:3:4:5:6", None, "2001:db8:1:2::/64"),  # a host holds a whole /64
        ("::1", b"2001:db8:1:2::9", "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.4", None, "198.51.100.4"),
    ],
)
def test_client_of(peer: str, forwarded: bytes | None, client: str) -> None:
    assert client_of(peer, forwarded, PROXIES) == client
