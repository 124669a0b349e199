"""Badge rules: pure functions from a package summary to a message and a colour.

Each rule takes the summary (or download counts) and the request's options (and
``package``, the name as the URL gives it) and returns a ``Verdict``. ``KINDS`` is the
registry that routes, docs and caches read: a ``Kind`` carries every fact of its badge.
"""

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_version
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


# shields.io's addv (services/text-formatters.js): no "v" before a string that does not start with a
# digit, holds a date or is a commit hash. Its patterns, here and below, as JavaScript reads them:
# \d is [0-9], $ is the very end (\Z)
_NO_V = re.compile(r"^[^0-9]|[0-9]{4}-[0-9]{2}-[0-9]{2}|^[a-f0-9]{7,40}\Z")


def addv(text: str) -> str:
    """A version as shields.io's ``addv`` writes it: ``v1.2``, but ``nightly-2013`` as it is."""
    return text if text.startswith("v") or _NO_V.search(text) else "v" + text


def version(summary: Summary, options: Mapping[str, str]) -> Verdict:
    # shields.io's pep440VersionColor (services/color-formatters.js): lightgrey if not PEP 440, orange for
    # a pre- or dev release or a public version starting "0.", else blue
    text = summary["newest"] if "include_prereleases" in options else summary["version"]
    parsed = _parse_version(text)
    if parsed is None:
        color = "lightgrey"
    elif parsed.is_prerelease or parsed.public.startswith("0."):
        color = "orange"
    else:
        color = "blue"
    return Verdict(addv(text), color)


def _matches(summary: Summary, pattern: "re.Pattern[str]") -> list[str]:
    """The first group of ``pattern`` in each classifier it matches, in the document's order
    (shields.io's parseClassifiers, services/pypi/pypi-helpers.js, with the case kept)."""
    return [m.group(1) for m in map(pattern.match, summary["classifiers"]) if m and m.group(1)]


def _classifier_values(summary: Summary, prefix: str) -> list[str]:
    """The last segment of every classifier directly under ``prefix``."""
    prefix += " :: "
    return [
        c[len(prefix) :]
        for c in summary["classifiers"]
        if c.startswith(prefix) and " :: " not in c[len(prefix) :]
    ]


_PYTHON = re.compile(r"^Programming Language :: Python :: ([0-9.]+)\Z")
_PYTHON_ONLY = re.compile(r"^Programming Language :: Python :: ([0-9]+) :: Only\Z")
_COERCE = re.compile(r"([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?")


def _coerced(text: str) -> tuple[int, int, int]:
    """The order of node-semver's ``coerce``: the first one to three dotted numbers, zeros after."""
    found = _COERCE.search(text)
    return (0, 0, 0) if found is None else (int(found[1]), int(found[2] or 0), int(found[3] or 0))


def py_versions(summary: Summary, options: Mapping[str, str]) -> Verdict:
    # shields.io's pypi-python-versions.service.js: the X.Y classifiers, else "X :: Only"; a bare 2 or 3
    # only when no 2.x or 3.x is listed; sorted as coerced semver
    listed = [v for v in _matches(summary, _PYTHON) if any(c.isdigit() for c in v)]
    listed = listed or _matches(summary, _PYTHON_ONLY)
    shown = dict.fromkeys(listed)
    for major in ("2", "3"):
        if any(v.startswith(major + ".") for v in listed):
            shown.pop(major, None)
    if shown:
        return Verdict(" | ".join(sorted(shown, key=_coerced)), "blue")
    # pypipin's own: shields.io says "missing" here
    requires = summary["requires_python"]
    try:
        SpecifierSet(requires)
    except InvalidSpecifier:
        requires = ""
    parts = ["".join(part.split()) for part in requires.split(",") if part.strip()]
    if parts:
        return Verdict(", ".join(parts), "blue")
    return Verdict("missing", "red")


_IMPLEMENTATION = re.compile(r"^Programming Language :: Python :: Implementation :: (\S+)\Z")


def implementation(summary: Summary, options: Mapping[str, str]) -> Verdict:
    names = sorted(name.lower() for name in _matches(summary, _IMPLEMENTATION))
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


_STATUS = re.compile(r"^Development Status :: ([0-9] - \S+)\Z")


def status(summary: Summary, options: Mapping[str, str]) -> Verdict:
    # shields.io's pypi-status.service.js: the last of the "N - Name" values in string order
    values = sorted(value.lower() for value in _matches(summary, _STATUS))
    if not values:
        return Verdict("unknown", "lightgrey")  # pypipin's own: shields.io leaves the message empty
    name = values[-1].split(" - ")[-1].replace("production/stable", "stable")
    return Verdict(name, _STATUS_COLORS.get(name, "lightgrey"))


# shields.io's getPackageFormats (services/pypi/pypi-helpers.js) takes either spelling
_WHEELS = frozenset({"wheel", "bdist_wheel"})
_EGGS = frozenset({"egg", "bdist_egg"})


def wheel(summary: Summary, options: Mapping[str, str]) -> Verdict:
    if _WHEELS.intersection(summary["packagetypes"]):
        return Verdict("yes", "brightgreen")
    return Verdict("no", "red")


def egg(summary: Summary, options: Mapping[str, str]) -> Verdict:
    if _EGGS.intersection(summary["packagetypes"]):
        return Verdict("yes", "red")
    return Verdict("no", "brightgreen")


def format_(summary: Summary, options: Mapping[str, str]) -> Verdict:
    types = summary["packagetypes"]
    if _WHEELS.intersection(types):
        return Verdict("wheel", "brightgreen")
    if _EGGS.intersection(types):
        return Verdict("egg", "red")
    return Verdict("source", "yellow")


# shields.io's services/licenses.js: each license's kind, as colour and priority
_LICENSE_KINDS = (
    (
        "green",  # permissive
        2,
        "AFL-3.0 Apache-2.0 Artistic-2.0 BSD-2-Clause BSD-3-Clause BSD-3-Clause-Clear BSL-1.0 CC-BY-4.0 "
        "ECL-2.0 ISC MIT MS-PL NCSA PostgreSQL Zlib BSD",
        ("Apache 2.0",),
    ),
    (
        "orange",  # copyleft
        1,
        "AGPL-1.0-only AGPL-1.0-or-later AGPL-3.0-only AGPL-3.0-or-later CC-BY-SA-4.0 EPL-1.0 EPL-2.0 "
        "EUPL-1.1 GPL-1.0-only GPL-1.0-or-later GPL-2.0-only GPL-2.0-or-later GPL-3.0-only GPL-3.0-or-later "
        "LGPL-2.0-only LGPL-2.0-or-later LGPL-2.1-only LGPL-2.1-or-later LGPL-3.0-only LGPL-3.0-or-later "
        "LPPL-1.3c MPL-2.0 MS-RL OFL-1.1 OSL-3.0 GPL GPL-2.0 GPL-3.0 GPLv2 GPLv2+ GPLv3 GPLv3+ LGPL LGPL-2.1 "
        "LGPL-3.0 LGPLv2 LGPLv2+ LGPLv3 LGPLv3+ AGPL-3.0 AGPLv3+ MPL EPL",
        ("MPL 1.1", "MPL 2.0"),
    ),
    ("#7cd958", 3, "CC0-1.0 Unlicense WTFPL CC0", ()),  # public domain
)
_LICENSE_COLORS = {
    name: (priority, color)
    for color, priority, names, spaced in _LICENSE_KINDS
    for name in (*names.split(), *spaced)
}
# getLicenses' SPDX aliases (services/pypi/pypi-helpers.js), by the classifier after "License :: "
_LICENSE_ALIASES = {
    "OSI Approved :: Apache Software License": "Apache-2.0",
    "CC0 1.0 Universal (CC0 1.0) Public Domain Dedication": "CC0-1.0",
    "OSI Approved :: GNU Affero General Public License v3": "AGPL-3.0",
    "OSI Approved :: Zero-Clause BSD (0BSD)": "0BSD",
}
_LICENSE_CLASSIFIER = re.compile(r"^License :: (.+)\Z")
_ACRONYM = re.compile(r"\(([^)]+)\)")
_BARE_ACRONYM = re.compile(r"^[a-z0-9]+\Z")


def _js_length(text: str) -> int:
    """A string's length as JavaScript counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _license_short(classifier: str) -> str:
    """A License classifier (after ``License :: ``) as getLicenses shortens it: ``GPLV3``, ``MIT``."""
    text = _LICENSE_ALIASES.get(classifier, classifier).split(" :: ")[-1].replace(" License", "", 1)
    acronym = _ACRONYM.search(text)
    text = acronym.group(1).upper() if acronym else text
    return text.upper() if _BARE_ACRONYM.match(text) else text


def licenses(summary: Summary) -> list[str]:
    """shields.io's getLicenses: the license expression, else a license field under 40 characters,
    else every License classifier shortened."""
    if summary["license_expression"]:
        return [summary["license_expression"]]
    if summary["license"] and _js_length(summary["license"]) < 40:
        return [summary["license"]]
    names = [_license_short(c) for c in _matches(summary, _LICENSE_CLASSIFIER)]
    return [n for n in names if n != "DFSG approved"] if len(names) > 1 else names


def license_color(names: list[str]) -> str:
    """shields.io's licenseToColor: the colour of the highest-priority kind among ``names``, or lightgrey."""
    known = [_LICENSE_COLORS[name] for name in names if name in _LICENSE_COLORS]
    return max(known, key=lambda found: found[0], default=(0, "lightgrey"))[1]


def license_(summary: Summary, options: Mapping[str, str]) -> Verdict:
    names = licenses(summary)
    if not names:
        return Verdict("missing", "red")
    return Verdict(", ".join(names), license_color(names))


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


def _major_minor(text: str) -> tuple[int, int]:
    """shields.io's parsePypiVersionString of a dotted number: its first two parts, 0 for none."""
    parts = [*text.split("."), ""]
    return int(parts[0] or 0), int(parts[1] or 0)


def _framework_versions(summary: Summary, options: Mapping[str, str]) -> list[str]:
    framework = FRAMEWORKS[options["framework"]]
    pattern = re.compile("^Framework :: " + re.escape(framework.classifier) + r" :: ([0-9.]+)\Z")
    return sorted(_matches(summary, pattern), key=_major_minor)


def framework_versions(summary: Summary, options: Mapping[str, str]) -> Verdict:
    # shields.io's pypi-framework-versions.service.js; "package" is the name as the URL gives it
    versions = _framework_versions(summary, options)
    if versions:
        return Verdict(" | ".join(versions), "blue")
    name = FRAMEWORKS[options["framework"]].name
    return Verdict(f"{name} versions are missing for {options['package']}", "lightgrey")


def framework_label(summary: Summary, options: Mapping[str, str]) -> str | None:
    """shields.io's label when no version is listed (its InvalidResponse keeps the default ``versions``)."""
    return None if _framework_versions(summary, options) else "versions"


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


# The trust badges (PEP 740 provenance, PEP 792 project status, release date): ``simple`` is the
# summary of the package's simple document, ``publisher`` that of one Integrity API answer, and
# ``now`` the time the badge is answered (Unix seconds).

UNKNOWN = Verdict("unknown", "lightgrey")


def normal_version(version: str) -> str:
    """A version as the simple summary's releases spell it (``2.0.0`` is ``2``); the text itself when it is
    no PEP 440 version."""
    return canonicalize_version(version)


def _release_files(summary: Summary) -> list[Any] | None:
    """[files, attested files, one attested file name] of the latest release in the simple document."""
    release = summary["simple"]["releases"].get(normal_version(summary["version"]))
    return release if release and release[0] else None


def provenance(summary: Summary, options: Mapping[str, str]) -> Verdict:
    release = _release_files(summary)
    if not summary["simple"]["attests"] or release is None:
        return UNKNOWN
    files, attested, _ = release
    if not attested:
        return Verdict("none", "lightgrey")
    publisher = summary.get("publisher") or "attested"
    if attested < files:
        return Verdict(f"{publisher} ({attested} of {files} files)", "yellow")
    return Verdict(publisher, "brightgreen")


_PROJECT_STATUS_COLORS = {
    "active": "brightgreen",
    "archived": "orange",
    "deprecated": "orange",
    "quarantined": "red",
}


def _api_version(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError:
        return ()


def project_status(summary: Summary, options: Mapping[str, str]) -> Verdict:
    simple = summary["simple"]
    if _api_version(simple["api"]) < (1, 4) or simple["status"] == "":
        return UNKNOWN
    status = simple["status"] or "active"  # absent from 1.4 on: active
    return Verdict(status, _PROJECT_STATUS_COLORS[status])


_AGE_COLORS = ((7, "brightgreen"), (30, "green"), (180, "yellowgreen"), (365, "yellow"), (730, "orange"))


def release_date(summary: Summary, options: Mapping[str, str]) -> Verdict:
    """shields.io's ``renderDateBadge``: ``formatDate`` (moment's calendar, UTC) and ``age`` colours."""
    uploaded = summary.get("uploaded")
    if not uploaded:
        return UNKNOWN
    try:
        when = datetime.fromisoformat(uploaded.replace("Z", "+00:00"))
    except ValueError:
        return UNKNOWN
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    now = datetime.fromtimestamp(summary["now"], UTC)
    # calendar(): the days from the start of today, fractional
    days = (when - now.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds() / 86400
    if days >= 0:  # today (an upload a little in the future too: clocks differ)
        message = "today"
    elif days >= -1:
        message = "yesterday"
    elif days >= -6:
        message = "last " + when.strftime("%A").lower()
    else:
        message = f"{when.strftime('%B').lower()} {when.year}".removesuffix(f" {now.year}")
    elapsed = int((now - when).total_seconds() // 86400)  # dayjs diff in days: whole days, truncated
    color = next((color for limit, color in _AGE_COLORS if elapsed < limit), "red")
    return Verdict(message, color)
