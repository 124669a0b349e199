"""Every cache lifetime from one pure function: a table of (kind, outcome, freshness, request) ->
lifetimes."""

import pytest

from pypipin.badges import lifetimes
from pypipin.badges.kinds import KINDS, Outcome
from pypipin.badges.lifetimes import Lifetime

WHEEL, VERSION, DOWNLOADS = KINDS["wheel"], KINDS["version"], KINDS["downloads"]


@pytest.mark.parametrize(
    "kind, outcome, fresh_for, cache_seconds, expected",
    [
        # fresh: the kind's lifetime, raised by ?cacheSeconds=; the hot path keeps it while the data is fresh
        (WHEEL, Outcome.FRESH, 600.0, 0, Lifetime(3600, 600.0)),
        (WHEEL, Outcome.FRESH, 9000.0, 0, Lifetime(3600, 3600.0)),
        (WHEEL, Outcome.FRESH, 600.0, 5, Lifetime(3600, 600.0)),  # never lowered
        (VERSION, Outcome.FRESH, 600.0, 0, Lifetime(300, 300.0)),  # short: the feed tells of releases
        (VERSION, Outcome.FRESH, 9000.0, 7200, Lifetime(7200, 7200.0)),
        (DOWNLOADS, Outcome.FRESH, 3600.0, 0, Lifetime(600, 600.0)),
        (DOWNLOADS, Outcome.FRESH, 0.5, 0, Lifetime(600, 0.5)),
        (DOWNLOADS, Outcome.FRESH, -1.0, 0, Lifetime(600, -1.0)),  # already stale: not kept at all
        # stale data: asked again soon, kept briefly
        (VERSION, Outcome.STALE, 0.0, 7200, Lifetime(60, 10.0)),
        # errors: their own lifetimes, whatever the request asks
        (WHEEL, Outcome.INVALID_NAME, 0.0, 7200, Lifetime(86400, 86400.0)),
        (WHEEL, Outcome.NOT_FOUND, 0.0, 7200, Lifetime(60, 60.0)),
        (DOWNLOADS, Outcome.UNAVAILABLE, 0.0, 0, Lifetime(10, 10.0)),
        (DOWNLOADS, Outcome.RATE_LIMITED, 0.0, 0, Lifetime(10, 10.0)),
    ],
)
def test_badge_lifetimes(kind, outcome, fresh_for, cache_seconds, expected) -> None:
    assert lifetimes.badge(kind, outcome, fresh_for, cache_seconds) == expected


def test_every_outcome_has_a_lifetime() -> None:
    for outcome in Outcome:
        lifetime = lifetimes.badge(WHEEL, outcome, 100.0)
        assert (
            0 < lifetime.max_age <= lifetimes.MAX_CACHE_SECONDS and 0 < lifetime.keep_for <= lifetime.max_age
        )


def test_cache_control_lets_caches_serve_stale() -> None:
    assert lifetimes.cache_control(600) == (
        b"public, max-age=600, s-maxage=600, stale-while-revalidate=86400, stale-if-error=604800"
    )
