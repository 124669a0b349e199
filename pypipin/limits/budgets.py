"""What one client may cost: token buckets for what the caches cannot answer.

A request that the caches answer costs nothing here. What costs beyond them (a package
name fetched from upstream, an image drawn by node) is drawn from that client's token
bucket; a client over budget gets one generic ``rate limited`` badge at once, never a queue.
What all clients share (upstream calls, node's time) is drawn through a part of it for each
client, so a shared bucket that runs low refuses the clients that spent most first.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime

from pypipin.data import keys
from pypipin.limits.bucket import Gate, floor
from pypipin.limits.shared import Bucket, Buckets, LocalBuckets
from pypipin.limits.slots import NoSlot, Slots
from pypipin.waiting import sleep

RENDERS_AT_ONCE = 2  # a client's new images drawn at the same time
SHARE = 0.25  # of a shared upstream gate's rate and burst, the most one client may use
LARGEST_RENDER = 16  # units of the largest image (scale 4): the global renders bucket holds at least that
# what a client drew lately, against the renders of all: a bucket of LATELY_UNITS refilled at LATELY of its
# renders budget's rate, so a client that keeps asking is told from one that drew a few images once
LATELY = 0.25
LATELY_UNITS = 2 * LARGEST_RENDER
REFUSED_WEIGHT = 4  # a draw the renders of all refused counts that many times in what its client drew lately
LIGHT = 0.25  # a client that drew less than this of what it may lately waits for the renders of all...
LIGHT_WAIT = 0.25  # ... when they run low, if a token comes within this many seconds: it is not refused


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
    minute's worth at once. Each client's budgets are in ``shared``, the fleet's buckets (default:
    this process's). ``renders_per_second`` (None: no limit) bounds the images this daemon's node
    draws for all clients together, and ``slots`` (node's renders at once) the draws under way, so
    that node's queue stays short. At most ``max_buckets`` in-process buckets are remembered (about
    10,000 clients by default; the least recently used are forgotten, and the global limits still
    hold for the clients they hide).
    """

    def __init__(
        self,
        clock: IReactorTime,
        rates: dict[str, float],
        max_buckets: int = 50_000,
        renders_per_second: float | None = None,
        slots: Slots | None = None,
        shared: Buckets | None = None,
    ) -> None:
        self._clock = clock
        self._rates = rates
        self._local = LocalBuckets(clock, max_buckets=max_buckets)
        self._shared: Buckets = shared or self._local  # the fleet's: each client's names and renders
        self._drawing: dict[str, defer.DeferredSemaphore] = {}  # clients with draws under way
        self._all_renders = Gate(
            clock,
            renders_per_second * 60 if renders_per_second else None,
            burst=max(LARGEST_RENDER, renders_per_second or 0),
        )
        self._slots = slots  # node's (the renderer's): past a client's turn, its draw waits for one

    def _budget(self, client: str, cost: str) -> Bucket:
        rate = self._rates[cost]
        return Bucket(keys.bucket(f"{cost}:{client}"), rate / 60, max(1, int(rate)))

    async def spend(self, client: str, cost: str, units: int = 1) -> None:
        """Take ``units`` of ``cost`` from ``client``'s budget; raise OverBudget when it has fewer."""
        if not await self._shared.admit(self._budget(client, cost), units):
            raise OverBudget(cost)

    async def charge(self, client: str, cost: str) -> None:
        """Take one more unit of ``cost`` from ``client``, even one it does not have (paid first by the
        refill)."""
        await self._shared.take(self._budget(client, cost))

    def share(self, client: str, source: str, shared: Bucket) -> Bucket:
        """``client``'s part of ``shared`` (the gate of calls to ``source``): ``SHARE`` of its rate and
        burst."""
        return Bucket(
            keys.bucket(f"upstream {source}:{client}"), shared.rate * SHARE, max(1.0, shared.burst * SHARE)
        )

    def account(self, client: str, cost: str) -> "Account":
        return Account(self, client, cost)

    async def render(self, client: str, scale: int, draw: Callable[[float], Awaitable[bytes]]) -> bytes:
        """``draw(spent)``, paid from ``client``'s renders budget and from the renders of all clients, with
        at most ``RENDERS_AT_ONCE`` of the client's draws under way: more wait their turn, so one client
        never has node to itself.

        An image ``scale`` times larger has ``scale``² the pixels, and costs that many units. The
        renders of all clients (a rate, and node's slots) refuse a client sooner the more it drew
        lately, so while a crowd of addresses drains them, a client that has drawn little is still
        served. ``spent``, what the client drew lately, is its place in the queue for node's slots: the
        least goes first. A refused draw keeps its charge: asking is what a flood does. A draw that found
        no slot in time (NoSlot) is refused for the renders of all.
        """
        units = scale * scale
        lately = self._lately(client)
        spent = lately.spent()  # before this image
        await self.spend(client, "renders", units)
        lately.take(units)
        if self._no_slot(spent) or not await self._admitted(units, spent):
            lately.take(units * (REFUSED_WEIGHT - 1))  # asking again while refused is what a flood does
            raise OverBudget("global renders")
        slots = self._drawing.get(client)
        if slots is None:
            slots = self._drawing[client] = defer.DeferredSemaphore(RENDERS_AT_ONCE)
        try:
            return await slots.run(lambda: defer.ensureDeferred(self._draw(spent, draw)))
        finally:
            if slots.tokens == slots.limit:
                self._drawing.pop(client, None)

    async def _draw(self, spent: float, draw: Callable[[float], Awaitable[bytes]]) -> bytes:
        """``draw(spent)``; no slot of node's in time is a refusal for the renders of all."""
        try:
            return await draw(spent)
        except NoSlot:
            raise OverBudget("global renders") from None

    async def _admitted(self, units: int, spent: float) -> bool:
        """Whether the renders of all admit ``units`` for a client that has spent ``spent`` lately: the more
        it spent, the more it must leave; a light client waits for a token coming soon."""
        keep = floor(spent, self._all_renders.burst, units)
        if self._all_renders.admit(units, keep):
            return True
        wait = self._all_renders.wait(keep + units - 1)
        if spent >= LIGHT or wait > LIGHT_WAIT:
            return False
        await sleep(self._clock, wait)
        return self._all_renders.admit(units, keep)

    def _lately(self, client: str) -> Gate:
        """What ``client`` drew, or asked to, lately (see ``LATELY``), against the renders of this daemon."""
        return self._local.gate(
            Bucket(f"renders lately:{client}", self._rates["renders"] * LATELY / 60, LATELY_UNITS)
        )

    def _no_slot(self, spent: float) -> bool:
        """Whether too few of node's slots are free for a client that has spent ``spent`` of what it may
        draw lately: a client that must leave some free is refused at once, the others wait their turn."""
        if self._slots is None:  # no limit
            return False
        keep = int(floor(spent, self._slots.count))
        return keep > 0 and self._slots.free < 1 + keep


@dataclass(frozen=True)
class Account:
    """One client's budget for one cost."""

    budgets: Budgets
    client: str
    cost: str

    async def spend(self) -> None:
        """Take one unit; raise OverBudget when none is left."""
        await self.budgets.spend(self.client, self.cost)

    async def charge(self) -> None:
        """Take one more unit, even one not left."""
        await self.budgets.charge(self.client, self.cost)

    def share(self, source: str, shared: Bucket) -> Bucket:
        """This client's part of the shared gate of ``source``."""
        return self.budgets.share(self.client, source, shared)
