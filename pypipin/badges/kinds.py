"""The registry of badge kinds: each Kind carries every fact of its badge.

(Its rule, data, lifetime, URL names, options and words.)
"""

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pypipin.badges.rules import (
    FRAMEWORKS,
    PERIODS,
    TOTAL,
    Summary,
    Verdict,
    downloads,
    egg,
    format_,
    framework_label,
    framework_versions,
    free_threading,
    implementation,
    license_,
    platforms,
    project_status,
    provenance,
    py_versions,
    release_date,
    status,
    types,
    version,
    vulnerabilities,
    wheel,
)


class Outcome(enum.Enum):
    """How a badge's data came out."""

    FRESH = "fresh"
    STALE = "stale"
    INVALID_NAME = "invalid name"
    NOT_FOUND = "not found"
    UNAVAILABLE = "unavailable"
    RATE_LIMITED = "rate limited"
    UNKNOWN_INDEX = "unknown index"
    NOT_APPLICABLE = "n/a"  # downloads of a package on an index other than pypi.org
    QUARANTINED = "quarantined"  # the JSON API does not know it, the simple API says quarantined


# what every badge says when it has no data to show
ERRORS = {
    Outcome.INVALID_NAME: Verdict("invalid name", "red"),
    Outcome.NOT_FOUND: Verdict("not found", "red"),
    Outcome.UNAVAILABLE: Verdict("unavailable", "lightgrey"),
    Outcome.RATE_LIMITED: Verdict("rate limited", "lightgrey"),
    Outcome.UNKNOWN_INDEX: Verdict("unknown index", "red"),
    Outcome.NOT_APPLICABLE: Verdict("n/a", "lightgrey"),
    Outcome.QUARANTINED: Verdict("quarantined", "red"),
}


# URL name -> the rule options it fixes
Names = Mapping[str, Mapping[str, str]]


@dataclass(frozen=True, eq=False)
class Kind:
    """One badge and all its facts: rule, data, HTTP cache lifetime, URL names, query options, words."""

    name: str
    label: str  # a format string over the request's options
    rule: Callable[[Summary, Mapping[str, str]], Verdict]
    title: str  # for people; may name the {framework}
    description: str  # one line, for people
    original: Names  # names of the pypip.in form, /<name>/<package>/badge.<ext>
    shields: Names = field(
        default_factory=dict
    )  # names of the shields.io form, /pypi/<name>/<package>[.<ext>]
    # options the rule takes from the query string, each with its reader (None: a bad value, ignored)
    query: Mapping[str, Callable[[str], str | None]] = field(default_factory=dict)
    source: str = "pypi"  # pypi (the JSON summary), stats, simple (and the simple document), provenance
    max_age: int = 3600
    # a label of the rule's own for this summary (shields.io's error label), None: ``label``
    own_label: Callable[[Summary, Mapping[str, str]], str | None] | None = None
    daily: bool = False  # its words change at midnight (UTC): never kept past it

    def label_for(self, options: Mapping[str, str]) -> str:
        """The label for these options: a framework by its name (``django cms versions``)."""
        if "framework" in options:
            options = {**options, "framework": FRAMEWORKS[options["framework"]].name.lower()}
        return self.label.format(**options)

    def relabel(self, summary: Summary, options: Mapping[str, str]) -> str | None:
        """The label the rule gives this summary, when it is not ``label_for``'s."""
        return None if self.own_label is None else self.own_label(summary, options)


def _period(value: str) -> str | None:
    return value if value in (*PERIODS, TOTAL) else None


def _flag(value: str) -> str:
    """A flag is on whatever its value (``?include_prereleases`` or ``?include_prereleases=1``)."""
    return ""


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(
            "downloads",
            "downloads",
            downloads,
            "Downloads",
            "Downloads in the last day, week or month, or in all (ClickHouse's PyPI data, else pypistats).",
            original={"d": {}, "download": {}},
            shields={
                "dd": {"period": "day"},
                "dw": {"period": "week"},
                "dm": {"period": "month"},
                "dt": {"period": TOTAL},
            },
            query={"period": _period},
            source="stats",
            max_age=600,
        ),
        Kind(
            "version",
            "pypi",
            version,
            "Version",
            "The latest release on PyPI; orange for a pre-release or a 0.x version.",
            original={"v": {}, "version": {}},
            shields={"v": {}},
            query={"include_prereleases": _flag},
            max_age=300,  # short: the update feed makes a release show within a minute; proxies revalidate
        ),
        Kind(
            "py_versions",
            "python",
            py_versions,
            "Python versions",
            "The Python versions in the classifiers, else requires_python.",
            original={"py_versions": {}},
            shields={"pyversions": {}},
        ),
        Kind(
            "implementation",
            "implementation",
            implementation,
            "Implementation",
            "The Python implementations in the classifiers: cpython, pypy, …",
            original={"implementation": {}},
            shields={"implementation": {}},
        ),
        Kind(
            "status",
            "status",
            status,
            "Development status",
            "Planning, alpha, beta, stable, mature, … from the Development Status classifier.",
            original={"status": {}},
            shields={"status": {}},
        ),
        Kind(
            "wheel",
            "wheel",
            wheel,
            "Wheel",
            "Whether the latest release ships a wheel.",
            original={"wheel": {}},
            shields={"wheel": {}},
        ),
        Kind(
            "egg",
            "egg",
            egg,
            "Egg",
            "Whether the latest release still ships an egg (red when it does).",
            original={"egg": {}},
        ),
        Kind(
            "format",
            "format",
            format_,
            "Format",
            "The best file of the latest release: wheel, egg or source.",
            original={"format": {}},
            shields={"format": {}},
        ),
        Kind(
            "license",
            "license",
            license_,
            "License",
            "The license expression, else the license field, else the License classifiers.",
            original={"license": {}},
            shields={"l": {}},
        ),
        Kind(
            "types",
            "types",
            types,
            "Typing",
            "Typed, stubs or untyped, from the Typing classifiers.",
            original={"types": {}},
            shields={"types": {}},
        ),
        # shields' frameworkversions takes the framework as one more path segment
        Kind(
            "framework_versions",
            "{framework} versions",
            framework_versions,
            "{framework} versions",
            "The versions of a framework (Django, JupyterLab, Wagtail, …) in the classifiers.",
            original={"djversions": {"framework": "django"}},
            shields={"djversions": {"framework": "django"}, "frameworkversions": {}},
            own_label=framework_label,
        ),
        Kind(
            "vulnerabilities",
            "vulnerabilities",
            vulnerabilities,
            "Known vulnerabilities",
            "Known vulnerabilities of the latest release, as PyPI lists them.",
            original={"vulnerabilities": {}},
            shields={"vulnerabilities": {}},
        ),
        Kind(
            "free_threading",
            "free-threading",
            free_threading,
            "Free-threading",
            "Free-threaded Python support: the Free Threading classifier, else cp313t-style wheels.",
            original={"free_threading": {}},
            shields={"freethreading": {}},
        ),
        Kind(
            "platforms",
            "platforms",
            platforms,
            "Platforms",
            "The platforms the latest release has wheels for: linux, macos, windows, …; any, or source only.",
            original={"platforms": {}},
            shields={"platforms": {}},
        ),
        # the trust badges, from the simple API (PEP 691, 740, 792) and the JSON API's upload times
        Kind(
            "provenance",
            "provenance",
            provenance,
            "Provenance",
            "Who published the latest release's files with an attestation (PEP 740); yellow when only some"
            " have one. It reports what the index says (PyPI checks attestations at upload), not a signature"
            " pypipin verified.",
            original={"provenance": {}},
            shields={"provenance": {}},
            source="provenance",
        ),
        Kind(
            "project_status",
            "project",
            project_status,
            "Project status",
            "Active, archived, deprecated or quarantined, as the index says (PEP 792).",
            original={"project_status": {}},
            shields={"projectstatus": {}},
            source="simple",
        ),
        Kind(
            "release_date",
            "release date",
            release_date,
            "Release date",
            "When the latest release was uploaded: today, yesterday, last monday, june 2024, …;"
            " greener when newer.",
            original={"release_date": {}},
            shields={"release-date": {}},
            daily=True,
        ),
    )
}


def _names(form: str) -> dict[str, tuple[str, Mapping[str, str]]]:
    return {
        name: (kind.name, fixed) for kind in KINDS.values() for name, fixed in getattr(kind, form).items()
    }


# every URL name of each form: kind and fixed options
ORIGINAL_NAMES = _names("original")


SHIELDS_NAMES = _names("shields")
