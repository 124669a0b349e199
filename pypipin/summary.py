"""Reduce upstream JSON documents to the few fields the badges need."""

from typing import Any

from packaging.version import InvalidVersion, Version


class Garbled(ValueError):
    """An upstream document that is not shaped as the API promises."""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _newest_release(releases: Any) -> str:
    """The highest PEP 440 version with at least one non-yanked file."""
    if not isinstance(releases, dict):
        return ""
    best: tuple[Version, str] | None = None
    for name, files in releases.items():
        if not isinstance(files, list) or not any(
            isinstance(f, dict) and not f.get("yanked") for f in files
        ):
            continue
        try:
            version = Version(name)
        except InvalidVersion:
            continue
        if best is None or version > best[0]:
            best = (version, name)
    return best[1] if best else ""


def from_pypi(document: Any) -> dict[str, Any]:
    """The summary of a PyPI JSON API document (``/pypi/<name>/json``)."""
    if not isinstance(document, dict) or not isinstance(document.get("info"), dict):
        raise Garbled("no info object")
    info = document["info"]
    version = info.get("version")
    if not isinstance(version, str) or not version:
        raise Garbled("no version")
    classifiers = info.get("classifiers")
    classifiers = [] if classifiers is None else classifiers
    files = document.get("urls")
    files = [] if files is None else files
    if not isinstance(classifiers, list) or not isinstance(files, list):
        raise Garbled("classifiers or urls is not a list")
    return {
        "version": version,
        "newest": _newest_release(document.get("releases")) or version,
        "classifiers": [c for c in classifiers if isinstance(c, str)],
        "requires_python": _text(info.get("requires_python")),
        "license": _text(info.get("license")),
        "license_expression": _text(info.get("license_expression")),
        "packagetypes": sorted(
            {f["packagetype"] for f in files if isinstance(f, dict) and isinstance(f.get("packagetype"), str)}
        ),
    }


def from_stats(document: Any) -> dict[str, int]:
    """Download counts from a pypistats ``/packages/<name>/recent`` document."""
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, dict):
        raise Garbled("no data object")
    counts = {}
    for period in ("day", "week", "month"):
        value = data.get("last_" + period)
        if not isinstance(value, int) or isinstance(value, bool):
            raise Garbled(f"last_{period} is not a number")
        counts[period] = max(value, 0)
    return counts
