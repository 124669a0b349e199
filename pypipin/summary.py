"""Reduce upstream JSON documents to the few fields the badges need."""

from typing import Any

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

MAX_TAGS = 64  # distinct ABI tags, and platform tags, kept of the latest release's wheels
_MAX_WHEEL_NAME = 255
_MAX_WHEEL_DOTS = 16  # compressed tag sets multiply: a name with more dots is not expanded


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


def _vulnerabilities(document: dict[str, Any]) -> int | None:
    """Known vulnerabilities not withdrawn; None when the document has no such list (not pypi.org)."""
    found = document.get("vulnerabilities")
    if not isinstance(found, list):
        return None
    return sum(1 for entry in found if isinstance(entry, dict) and entry.get("withdrawn") is None)


def _wheel_tags(files: list[Any]) -> tuple[list[str], list[str]]:
    """The distinct ABI tags and platform tags of the wheels among ``files``, sorted and capped."""
    abis: set[str] = set()
    platforms: set[str] = set()
    for entry in files:
        filename = entry.get("filename") if isinstance(entry, dict) else None
        if not isinstance(filename, str) or len(filename) > _MAX_WHEEL_NAME or filename.count(".") > _MAX_WHEEL_DOTS:
            continue
        try:
            tags = parse_wheel_filename(filename)[3]
        except InvalidWheelFilename:
            continue
        abis.update(tag.abi for tag in tags)
        platforms.update(tag.platform for tag in tags)
    return sorted(abis)[:MAX_TAGS], sorted(platforms)[:MAX_TAGS]


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
    abi_tags, platform_tags = _wheel_tags(files)
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
        "vulnerabilities": _vulnerabilities(document),
        "abi_tags": abi_tags,
        "platform_tags": platform_tags,
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
