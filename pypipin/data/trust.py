"""The data of the trust badges: a package's JSON summary with its simple document's and, for the
provenance badge, one Integrity API answer's."""

from collections.abc import Callable
from contextlib import suppress

from pypipin.badges.rules import normal_version
from pypipin.data import keys
from pypipin.data.packages import Data, Packages
from pypipin.limits.budgets import Account
from pypipin.upstream.client import NotFound, Unavailable
from pypipin.upstream.trust import NO_SIMPLE


class Trust:
    """Simple documents and provenances of packages, through ``packages`` (cached, single-flighted)."""

    def __init__(self, packages: Packages) -> None:
        self._packages = packages

    async def quarantined(self, index: str, name: str) -> bool:
        """Whether the simple document of a package the JSON API does not know says it is quarantined.

        The client paid for it already: a name upstream does not know costs it a unit more.
        """
        with suppress(NotFound, Unavailable):
            simple = await self._packages.get(keys.simple(index), name)
            return bool(simple.value["status"] == "quarantined")
        return False

    async def get(
        self,
        index: str,
        name: str,
        summary: Data,
        publisher: bool,
        reached: Callable[[str], None] | None,
        account: Account,
    ) -> Data:
        """``summary`` with ``simple`` (the simple document's summary) and, if ``publisher``, the
        ``publisher`` of one attested file of the latest release (None when there is none)."""
        try:
            simple = await self._packages.get(keys.simple(index), name, reached, account)
        except NotFound:  # an index with no simple API there: nothing known of trust
            simple = Data(NO_SIMPLE, summary.fresh_until)
        value = {**summary.value, "simple": simple.value, "publisher": None}
        fresh_until = min(summary.fresh_until, simple.fresh_until)
        release = simple.value["releases"].get(normal_version(summary.value["version"]))
        if publisher and release and release[2]:
            file = f"{name}/{summary.value['version']}/{release[2]}"
            with suppress(NotFound):  # an attested file with no provenance: its publisher is unknown
                value["publisher"] = (
                    await self._packages.get(keys.integrity(index), file, account=account)
                ).value["publisher"]
        return Data(value, fresh_until, summary.stale or simple.stale)
