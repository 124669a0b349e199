"""Badge rules: pure functions from a package summary to a message and a colour.

Each rule takes the summary (or download counts) and the request's options and
returns a ``Verdict``. ``KINDS`` is the registry that routes, docs and caches read:
a ``Kind`` carries every fact of its badge.
"""

import re
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

Summary = Mapping[str, Any]
PERIODS = ("day", "week", "month")
TOTAL = "total"  # all-time downloads: ClickHouse's, not pypistats'; no suffix
DEFAULT_PERIOD = "month"


class Verdict(NamedTuple):
    """What a rule decides: the badge's message and colour."""

    message: str
    color: str


_PREFIXES = "kMGTPEZY"  # shields.io's metric prefixes
_LARGEST = 999 * 1000 ** len(_PREFIXES)  # shown as 999Y; a bigger count says no more


def _half_up(value: float, step: str) -> Decimal:
    """``value`` rounded to ``step``, ties away from zero, on its exact binary value.

    That is JavaScript's ``toFixed`` and ``Math.round`` for a positive number: 9.95 is
    stored as 9.9499999... and so gives 9.9, while 1.25 is exact and gives 1.3.
    """
    return Decimal(value).quantize(Decimal(step), ROUND_HALF_UP)


def metric(count: int) -> str:
    """A count as shields.io's ``metric()`` writes it: ``999``, ``1.3k``, ``10k``, ``1.9G``."""
    count = min(max(count, 0), _LARGEST)
    number = float(count)
    for power in range(len(_PREFIXES), 0, -1):
        limit = float(1000**power)
        if number >= limit:
            scaled = number / limit
            prefix = _PREFIXES[power - 1]
            if scaled < 10:
                one_decimal = str(_half_up(scaled, "0.1"))
                if not one_decimal.endswith("0"):
                    return one_decimal + prefix
            rounded = int(_half_up(scaled, "1"))
            return f"{rounded}{prefix}" if rounded < 1000 else "1" + _PREFIXES[power]
    return str(count)


def downloads(counts: Summary, options: Mapping[str, str]) -> Verdict:
    period = options.get("period", DEFAULT_PERIOD)
    period = period if period in (*PERIODS, TOTAL) else DEFAULT_PERIOD
    if period not in counts:  # pypistats has no all-time total
        return Verdict("unavailable", "lightgrey")
    count = counts[period]
    # B007 sees `color` unused: the loop keeps the colour of the band it breaks at
    for limit, color in ((1, "red"), (10, "yellow"), (100, "yellowgreen"), (1000, "green")):  # noqa: B007
        if count < limit:
            break
    else:
        color = "brightgreen"
    return Verdict(metric(count) if period == TOTAL else f"{metric(count)}/{period}", color)


def _parse_version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def version(summary: Summary, options: Mapping[str, str]) -> Verdict:
    text = summary["newest"] if "include_prereleases" in options else summary["version"]
    parsed = _parse_version(text)
    if parsed is None:
        color = "lightgrey"
    elif parsed.is_prerelease or parsed.major == 0:
        color = "orange"
    else:
        color = "blue"
    return Verdict("v" + text, color)


def _classifier_values(summary: Summary, prefix: str) -> list[str]:
    """The last segment of every classifier directly under ``prefix``."""
    prefix += " :: "
    return [
        c[len(prefix) :]
        for c in summary["classifiers"]
        if c.startswith(prefix) and " :: " not in c[len(prefix) :]
    ]


_VERSION = re.compile(r"^\d+(\.\d+)*$")


def _sorted_versions(values: list[str]) -> list[str]:
    return sorted({v for v in values if _VERSION.match(v)}, key=Version)


def py_versions(summary: Summary, options: Mapping[str, str]) -> Verdict:
    listed = _sorted_versions(_classifier_values(summary, "Programming Language :: Python"))
    majors_with_minors = {v.split(".")[0] for v in listed if "." in v}
    shown = [v for v in listed if v not in majors_with_minors]
    if shown:
        return Verdict(" | ".join(shown), "blue")
    requires = summary["requires_python"]
    try:
        SpecifierSet(requires)
    except InvalidSpecifier:
        requires = ""
    parts = ["".join(part.split()) for part in requires.split(",") if part.strip()]
    if parts:
        return Verdict(", ".join(parts), "blue")
    return Verdict("missing", "red")


def implementation(summary: Summary, options: Mapping[str, str]) -> Verdict:
    names = sorted(
        {n.lower() for n in _classifier_values(summary, "Programming Language :: Python :: Implementation")}
    )
    return Verdict(" | ".join(names) or "cpython", "blue")


_STATUS_COLORS = {
    "planning": "red",
    "pre-alpha": "red",
    "alpha": "red",
    "inactive": "red",
    "beta": "yellow",
    "stable": "brightgreen",
    "mature": "brightgreen",
}


def _highest_stage(values: list[str]) -> str | None:
    """The name, lowercased, of the highest-numbered ``N - Name`` value."""
    best: tuple[int, str] | None = None
    for value in values:
        number, _, name = value.partition(" - ")
        if number.isdigit() and name and (best is None or int(number) > best[0]):
            best = (int(number), name.lower())
    return None if best is None else best[1]


def status(summary: Summary, options: Mapping[str, str]) -> Verdict:
    best = _highest_stage(_classifier_values(summary, "Development Status"))
    if best is None:
        return Verdict("unknown", "lightgrey")
    name = "stable" if best == "production/stable" else best
    return Verdict(name, _STATUS_COLORS.get(name, "lightgrey"))


def wheel(summary: Summary, options: Mapping[str, str]) -> Verdict:
    if "bdist_wheel" in summary["packagetypes"]:
        return Verdict("yes", "brightgreen")
    return Verdict("no", "red")


def egg(summary: Summary, options: Mapping[str, str]) -> Verdict:
    if "bdist_egg" in summary["packagetypes"]:
        return Verdict("yes", "red")
    return Verdict("no", "brightgreen")


def format_(summary: Summary, options: Mapping[str, str]) -> Verdict:
    types = summary["packagetypes"]
    if "bdist_wheel" in types:
        return Verdict("wheel", "brightgreen")
    if "bdist_egg" in types:
        return Verdict("egg", "red")
    return Verdict("source", "yellow")


_ACRONYM = re.compile(r"\(([^()]+)\)\s*$")


def _license_short(classifier: str) -> str:
    """``GNU General Public License v3 (GPLv3)`` -> ``GPLv3``, ``MIT License`` -> ``MIT``."""
    acronym = _ACRONYM.search(classifier)
    if acronym:
        return acronym.group(1).strip()
    last = classifier.rsplit(" :: ", 1)[-1]
    if last == "Apache Software License":
        return "Apache-2.0"
    return last.removesuffix(" License")


def license_(summary: Summary, options: Mapping[str, str]) -> Verdict:
    expression = summary["license_expression"].strip()
    if expression:
        return Verdict(expression, "blue")
    text = summary["license"].strip()
    if text and "\n" not in text and len(text) < 40 and text.upper() != "UNKNOWN" and "://" not in text:
        return Verdict(text, "blue")
    names: list[str] = []
    for classifier in summary["classifiers"]:
        if classifier.startswith("License :: ") and classifier != "License :: OSI Approved":
            short = _license_short(classifier)
            if short not in names:
                names.append(short)
    if names:
        return Verdict(" | ".join(names), "blue")
    return Verdict("unknown", "red")


def types(summary: Summary, options: Mapping[str, str]) -> Verdict:
    typing = _classifier_values(summary, "Typing")
    if "Typed" in typing:
        return Verdict("typed", "brightgreen")
    if "Stubs Only" in typing:
        return Verdict("stubs", "brightgreen")
    return Verdict("untyped", "red")


class Framework(NamedTuple):
    """A framework of shields.io's ``frameworkversions``: its classifier segment and its name."""

    classifier: str  # may hold " :: " itself
    name: str


# URL name -> framework, as shields.io has them; any other name is no badge
FRAMEWORKS: dict[str, Framework] = {
    "aws-cdk": Framework("AWS CDK", "AWS CDK"),
    "django": Framework("Django", "Django"),
    "django-cms": Framework("Django CMS", "Django CMS"),
    "jupyterlab": Framework("Jupyter :: JupyterLab", "JupyterLab"),
    "odoo": Framework("Odoo", "Odoo"),
    "plone": Framework("Plone", "Plone"),
    "wagtail": Framework("Wagtail", "Wagtail"),
    "zope": Framework("Zope", "Zope"),
}


def framework_versions(summary: Summary, options: Mapping[str, str]) -> Verdict:
    framework = FRAMEWORKS[options["framework"]]
    versions = _sorted_versions(_classifier_values(summary, "Framework :: " + framework.classifier))
    if versions:
        return Verdict(" | ".join(versions), "blue")
    return Verdict("missing", "lightgrey")


def vulnerabilities(summary: Summary, options: Mapping[str, str]) -> Verdict:
    count = summary["vulnerabilities"]
    if count is None:
        return Verdict("unknown", "lightgrey")
    if count == 0:
        return Verdict("none known", "brightgreen")
    return Verdict(f"{count} known", "red")


_FREE_THREADING_COLORS = {
    "unstable": "orange",
    "beta": "yellow",
    "stable": "brightgreen",
    "resilient": "brightgreen",
}


def free_threading(summary: Summary, options: Mapping[str, str]) -> Verdict:
    best = _highest_stage(_classifier_values(summary, "Programming Language :: Python :: Free Threading"))
    if best is not None:
        return Verdict(best, _FREE_THREADING_COLORS.get(best, "lightgrey"))
    if any(abi.endswith("t") for abi in summary["abi_tags"]):  # cp313t, cp314t: built for free threading
        return Verdict("wheels", "blue")
    return Verdict("no", "lightgrey")


# platform tag prefix -> family; a tag matching none is named by its text before the first "_"
_PLATFORM_FAMILIES = (
    (("manylinux", "musllinux", "linux_"), "linux"),
    (("macosx_",), "macos"),
    (("win32", "win_"), "windows"),
    (("android_",), "android"),
    (("ios_",), "ios"),
    (("emscripten_", "pyemscripten_", "pyodide_"), "emscripten"),
)


def _platform_family(tag: str) -> str:
    for prefixes, family in _PLATFORM_FAMILIES:
        if tag.startswith(prefixes):
            return family
    return tag.partition("_")[0]


def platforms(summary: Summary, options: Mapping[str, str]) -> Verdict:
    tags = summary["platform_tags"]
    if not tags:
        return Verdict("source only", "lightgrey")
    if "any" in tags:
        return Verdict("any", "blue")
    return Verdict(" | ".join(sorted({_platform_family(tag) for tag in tags})), "blue")
