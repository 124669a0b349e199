"""The four Twisted names pypipin needs that Twisted keeps private; every use goes through here.

Each has no public twin (Twisted 26.10), and each breaks silently if Twisted renames it, so
tests/test_twisted.py checks them against the installed Twisted and fails loudly first.

- ``HTTPChannel._command``: the method HTTPChannel parsed from the request line. The listener
  refuses a method from the head alone; a ``Request`` learns its method only once its body is read.
- ``LineReceiver.paused`` (from the private ``_PauseableMixin``): while set, LineReceiver parses
  none of the bytes it has buffered already. Pausing the transport only stops new reads, and
  ``HTTPChannel.pauseProducing`` does not set it while a request is being handled.
- ``HTTPConnectionPool._factory`` and ``_HTTP11ClientFactory``: the factory of each pooled
  connection, "noisy" by default (a "Starting factory" log line per connection). The pool has no
  quiet option; a log observer filter would have to match every log event by message text.
- ``tcp.Port.numberAccepts``: how many connections a listening port accepts in one reactor turn
  (100 at first, growing). Workers sharing one socket each accept one a turn, so that a busy worker
  does not take a burst the others would serve; the reactor has no public setting for it.
"""

from typing import Any

from twisted.internet import tcp
from twisted.protocols.basic import LineReceiver
from twisted.web.client import HTTPConnectionPool, _HTTP11ClientFactory
from twisted.web.http import HTTPChannel


class _QuietFactory(_HTTP11ClientFactory):
    noisy = False  # no "Starting factory" log line for every pooled connection


def quiet_pool(pool: HTTPConnectionPool) -> None:
    """Make ``pool``'s new connections log nothing when they start and stop."""
    pool._factory = _QuietFactory


def request_method(channel: HTTPChannel) -> bytes:
    """The method of the request whose head ``channel`` has parsed (from its request line to its end)."""
    method: bytes = channel._command
    return method


def pause_parsing(channel: LineReceiver, paused: bool) -> None:
    """Stop (or let again) ``channel`` parsing the lines (requests) it has read already."""
    channel.paused = paused


def one_accept_per_turn(port: tcp.Port) -> None:
    """Make listening ``port`` accept one connection each time the socket is readable, so that the
    processes sharing its socket take turns. ``Port.numberAccepts`` grows by 20 after every busy turn."""
    read = port.doRead

    def read_one() -> Any:
        port.numberAccepts = 1
        return read()  # type: ignore[no-untyped-call]  # Twisted leaves doRead unannotated

    port.doRead = read_one  # type: ignore[method-assign]
