"""One badge answered: its data, its verdict, its image and lifetimes, and the over-budget policy.

The HTTP face hands it a parsed request and the client it counts against; it hands back the
image and how it may be cached. Nothing here knows of HTTP requests or Klein.
"""

from collections import ChainMap
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from functools import partial

from twisted.internet.interfaces import IReactorTime

from pypipin.badges import lifetimes
from pypipin.badges.kinds import ERRORS, Outcome
from pypipin.badges.lifetimes import REFUSED, cache_control
from pypipin.badges.parsing import BadgeRequest
from pypipin.data.downloads import Downloads
from pypipin.data.images import Images
from pypipin.data.packages import Data, Packages
from pypipin.data.trust import Trust
from pypipin.limits.budgets import Account, Budgets, OverBudget
from pypipin.metrics import Counters
from pypipin.upstream.client import NotFound, RateLimited, Unavailable
from pypipin.upstream.indexes import DEFAULT

TRUST = ("simple", "provenance")  # the sources of the badges that read the simple document too
OVER_BUDGET_LABEL = "pypipin"  # the one label of the badge a client over budget gets


@dataclass(frozen=True)
class Answer:
    """A badge's image, its ``Cache-Control`` value, and how long the hot path may serve it as it is."""

    body: bytes
    caching: bytes
    keep_for: float
    refused: bool = False  # a client over budget: its image is ``Answers.refusal``'s, its body empty here


REFUSAL = Answer(b"", REFUSED, 0.0, refused=True)


class Answers:
    """Badges answered through the caches, what they cost charged to the client that asks."""

    def __init__(
        self,
        clock: IReactorTime,
        packages: Packages,
        trust: Trust,
        images: Images,
        budgets: Budgets,
        counters: Counters,
        downloads: Downloads | None = None,
    ) -> None:
        self._clock = clock
        self._packages = packages
        self._downloads = downloads or Downloads(("pypistats",), None)
        self._images = images
        self._budgets = budgets
        self._counters = counters
        self._trust = trust

    async def answer(
        self, wanted: BadgeRequest, client: str, reached: Callable[[str], None] | None = None
    ) -> Answer:
        """The answer to a badge request; ``reached`` is told each cache layer it needed.

        What it costs beyond the caches is charged to ``client``, and only that is refused:
        a badge the caches can answer is served over budget too. The refusal is one generic
        ``rate limited`` image (none of the request's own text, colours or logo, so never a new
        render), ``private, no-store`` (that client's answer alone: Varnish or a CDN must never
        serve it to anyone else), and the hot path does not keep it.
        """
        options = {**dict(wanted.options), "package": wanted.name}
        label = wanted.label or wanted.kind.label_for(options)
        try:
            outcome, data = await self._data(wanted, client, reached)
            if data is None:
                (message, color), fresh_for = ERRORS[outcome], 0.0
            else:
                message, color = wanted.kind.rule(
                    ChainMap({"now": self._clock.seconds()}, data.value), options
                )
                label = wanted.label or wanted.kind.relabel(data.value, options) or label
                color, fresh_for = wanted.color or color, data.fresh_until - self._clock.seconds()
            lifetime = lifetimes.badge(
                wanted.kind, outcome, fresh_for, wanted.cache_seconds, self._clock.seconds()
            )
            body = await self._images.draw(
                wanted,
                label,
                message,
                color,
                data is None,
                reached,
                partial(self._budgets.render, client, wanted.scale),
            )
        except OverBudget as over:
            self._counters.over_budget[over.cost] += 1
            return REFUSAL
        return Answer(body, cache_control(lifetime.max_age, wanted.kind.daily), lifetime.keep_for)

    async def refusal(self, wanted: BadgeRequest, reached: Callable[[str], None] | None = None) -> bytes:
        """The one image a client over budget gets for ``wanted``'s kind and format: ``rate limited``
        with none of the request's own text, colours or logo, so it is drawn once for all."""
        plain = replace(wanted, label=None, color=None, label_color=None, logo=None, style="flat", scale=1)
        message, color = ERRORS[Outcome.RATE_LIMITED]
        return await self._images.draw(plain, OVER_BUDGET_LABEL, message, color, True, reached)

    async def _data(
        self, wanted: BadgeRequest, client: str, reached: Callable[[str], None] | None
    ) -> tuple[Outcome, Data | None]:
        """The package data a badge reads, with how it came out; None for an error.

        A client over budget is no outcome: OverBudget goes up to ``answer``'s policy.
        """
        if wanted.index is None:
            return Outcome.UNKNOWN_INDEX, None
        if wanted.package is None:
            return Outcome.INVALID_NAME, None
        source = wanted.kind.source
        if source == "pypi" or source in TRUST:  # the package's document, from the index the request picked
            source = wanted.index
        elif wanted.index != DEFAULT:  # download counts exist for pypi.org's packages only
            return Outcome.NOT_APPLICABLE, None
        account = self._budgets.account(client, "names")
        try:
            if source == "stats":
                data = await self._downloads.get(
                    wanted.package, partial(self._pypistats, wanted.package, reached, account)
                )
            else:
                data = await self._packages.get(source, wanted.package, reached, account)
            if wanted.kind.source in TRUST:
                publisher = wanted.kind.source == "provenance"
                data = await self._trust.get(wanted.index, wanted.package, data, publisher, reached, account)
        except NotFound:
            if await self._trust.quarantined(wanted.index, wanted.package):
                return Outcome.QUARANTINED, None
            return Outcome.NOT_FOUND, None
        except RateLimited:
            return Outcome.RATE_LIMITED, None
        except Unavailable:
            return Outcome.UNAVAILABLE, None
        return Outcome.STALE if data.stale else Outcome.FRESH, data

    async def _pypistats(self, package: str, reached: Callable[[str], None] | None, account: Account) -> Data:
        """Counts from pypistats, for a package PyPI knows."""
        await self._known(package, account)
        return await self._packages.get("stats", package, reached, account)

    async def _known(self, package: str, account: Account) -> None:
        """Raise NotFound if PyPI does not know ``package``: pypistats' small budget goes to real names only.

        The check is paid from ``account`` too: over budget, OverBudget.
        """
        with suppress(Unavailable):  # PyPI is down or slow: ask pypistats anyway
            await self._packages.get(DEFAULT, package, account=account)
