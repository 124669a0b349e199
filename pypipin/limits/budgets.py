"""What one client may cost: token buckets for what the caches cannot answer.

A request that the caches answer costs nothing here. What costs beyond them (a package
name fetched from upstream, an image drawn by node) is drawn from that client's token
bucket; a client over budget gets one generic ``rate limited`` badge at once, never a queue.
What all clients share (upstream calls, node's time) is drawn through a part of it for each
client, so a shared bucket that runs low refuses the clients that spent most first.
"""

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime

from pypipin.limits.bucket import Gate, floor

RENDERS_AT_ONCE = 2  # a client's new images drawn at the same time
SHARE = 0.25  # of a shared upstream gate's rate and burst, the most one client may use
LARGEST_RENDER = 16  # units of the largest image (scale 4): the global renders bucket holds at least that
# what a client drew lately, against the renders of all: a bucket of LATELY_UNITS refilled at LATELY of its
# renders budget's rate, so a client that keeps asking is told from one that drew a few images once
LATELY = 0.25
LATELY_UNITS = 2 * LARGEST_RENDER


class OverBudget(Exception):
    """The client has spent its budget for ``cost``; it may try again in a few seconds.

    Not an upstream failure: what refuses is this client's own use, and the badge says so.
    """

    def __init__(self, cost: str) -> None:
        super().__init__(f"over the {cost} budget")
        self.cost = cost


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

    def __init__(
        self,
        clock: IReactorTime,
        rates: dict[str, float],
        max_buckets: int = 50_000,
        renders_per_second: float | None = None,
        slots: int | None = None,
    ) -> None:
        self._clock = clock
        self._rates = rates
        self._max_buckets = max_buckets
        self._clients: OrderedDict[tuple[str, str], Gate] = OrderedDict()
        self._drawing: dict[str, defer.DeferredSemaphore] = {}  # clients with draws under way
        self._all_renders = Gate(
            clock,
            renders_per_second * 60 if renders_per_second else None,
            burst=max(LARGEST_RENDER, renders_per_second or 0),
        )
        self._slots = slots
        self._under_way = 0  # draws of all clients running (past their client's own turn)

    def _bucket(self, client: str, name: str, per_minute: float | None, burst: float) -> Gate:
        """``client``'s bucket called ``name``, made full on first use (the least recently used are
        forgotten)."""
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
        """Take one more unit of ``cost`` from ``client``, even one it does not have (paid first by the
        refill)."""
        self._budget(client, cost).take()

    def share(self, client: str, source: str, shared: Gate) -> Gate:
        """``client``'s part of ``shared`` (the gate of calls to ``source``): ``SHARE`` of its rate and
        burst."""
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
        if self._no_slot(spent) or not self._all_renders.admit(
            units, floor(spent, self._all_renders.burst, units)
        ):
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
        """Whether too few of node's slots are free for a client that has spent ``spent`` of what it may
        draw lately."""
        if not self._slots:  # no limit
            return False
        return self._slots - self._under_way < 1 + int(floor(spent, self._slots))


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
