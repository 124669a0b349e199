"""Every cache lifetime, decided in one place: how long caches and clients may keep what we make,
and how long pypipin itself remembers what it learnt.

``badge()`` is a pure function from (badge kind, outcome, freshness, request) to the
lifetimes of one badge response; ``cache_control()`` spells a lifetime as a header.
"""

from dataclasses import dataclass

from pypipin.badges.kinds import Kind, Outcome

NOT_FOUND_TTL = 60  # seconds a package upstream does not know is remembered as missing
IMAGE_TTL = 86400  # seconds a drawn image is kept, in memory and in the shared store
MAX_CACHE_SECONDS = 365 * 86400  # the most ``?cacheSeconds=`` may ask for
STALE_MAX_AGE = 60  # HTTP lifetime of a badge drawn from stale data: retried soon
STALE_KEEP = 10.0  # seconds the hot path serves a badge drawn from stale data
HOME_MAX_AGE = 300
STATIC_MAX_AGE = 86400  # the page's assets carry a content hash (?v=...)
POISON_TTL = 30 * 86400  # seconds the renderer's client remembers a spec node died under
# a client's refusal for budget: its answer alone, never kept by Varnish, a CDN or a browser
REFUSED = b"private, no-store"
_STALE_WHILE_REVALIDATE = 86400
_STALE_IF_ERROR = 604800


_ERROR_MAX_AGE = {
    Outcome.INVALID_NAME: 86400,  # the name cannot become valid
    Outcome.NOT_FOUND: NOT_FOUND_TTL,
    Outcome.UNAVAILABLE: 10,
    Outcome.RATE_LIMITED: 10,  # upstream's 429, the same for everyone (a client's own refusal: REFUSED)
    Outcome.UNKNOWN_INDEX: 3600,  # until the deployment's indexes change
    Outcome.NOT_APPLICABLE: 3600,
    Outcome.QUARANTINED: 3600,
}


@dataclass(frozen=True)
class Lifetime:
    """The HTTP lifetime of a response (``max_age``) and how long the hot path may serve it (``keep_for``)."""

    max_age: int
    keep_for: float


def badge(
    kind: Kind, outcome: Outcome, fresh_for: float = 0.0, cache_seconds: int = 0, now: float = 0.0
) -> Lifetime:
    """The lifetimes of a badge response.

    ``fresh_for``: seconds its data stays fresh (for ``FRESH``); ``cache_seconds``: the
    request's ``?cacheSeconds=``, which raises a fresh badge's HTTP lifetime, never lowers it.
    A ``daily`` kind's words change at midnight UTC: it is never kept past the next one after ``now``.
    """
    if outcome is Outcome.FRESH:
        max_age = max(kind.max_age, cache_seconds)
        if kind.daily:
            max_age = min(max_age, 86400 - int(now) % 86400)
        return Lifetime(max_age, min(max_age, fresh_for))
    if outcome is Outcome.STALE:
        return Lifetime(STALE_MAX_AGE, STALE_KEEP)
    max_age = _ERROR_MAX_AGE[outcome]
    return Lifetime(max_age, float(max_age))


def cache_control(max_age: int, daily: bool = False) -> bytes:
    """A public ``Cache-Control`` value that lets caches serve a stale copy while revalidating or on error;
    a ``daily`` kind's, only on error (while revalidating, yesterday's words would be served today)."""
    revalidate = "" if daily else f"stale-while-revalidate={_STALE_WHILE_REVALIDATE}, "
    return (
        f"public, max-age={max_age}, s-maxage={max_age}, {revalidate}stale-if-error={_STALE_IF_ERROR}"
    ).encode()
