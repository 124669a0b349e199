"""Upstream documents decoded into only the fields the badges use, and reduced to summaries.

The Structs below are the one statement of what pypipin reads from PyPI and pypistats;
everything else in a document is skipped unread. A document of another shape is ``Garbled``.
"""

import re
from typing import Annotated, Any

import msgspec
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

MAX_FIELD = 200  # longest version, classifier, requires_python or license expression kept
MAX_CLASSIFIERS = 200
LICENSE_CHARS = 64  # a license field is shown only when shorter than 40 characters: a longer one is cut
MAX_TAGS = 64  # most ABI tags and most platform tags kept
MAX_WHEELS = 1000  # most wheel file names of the latest release read for tags
MAX_WHEEL_DOTS = 16  # compressed tag sets multiply (py2.py3-...): a name with more dots is not expanded
# classifiers the rules read; the others are not kept
CLASSIFIER_PREFIXES = (
    "Development Status ::",
    "Framework ::",
    "License ::",
    "Programming Language :: Python",
    "Typing ::",
)


class Garbled(Exception):
    """An upstream document that is not shaped as the API promises.

    Every way a hostile document can fail to decode ends here, so a decoding error of any
    other type is a bug, never a document.
    """


class Info(msgspec.Struct, gc=False):
    version: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_FIELD)]
    classifiers: list[str] | None = None
    requires_python: str | None = None
    license: str | None = None
    license_expression: str | None = None


class File(msgspec.Struct, gc=False):
    """One file of a release, in ``urls`` (the latest release) and in ``releases``."""

    filename: str = ""
    packagetype: str = ""
    yanked: bool = False
    upload_time_iso_8601: str = ""


class Vulnerability(msgspec.Struct, gc=False):
    withdrawn: str | None = None


class Document(msgspec.Struct):
    """``GET {pypi_url}/<name>/json``."""

    info: Info
    urls: list[File] | None = None
    vulnerabilities: list[Vulnerability] | None = None  # absent from private indexes
    releases: dict[str, list[File]] | None = None


class Counts(msgspec.Struct, gc=False):
    last_day: int
    last_week: int
    last_month: int


class Recent(msgspec.Struct):
    """``GET {stats_url}/packages/<name>/recent``."""

    data: Counts


# A document is split into its fields undecoded (a scan that makes no objects), and each
# field is decoded only if it cannot hold more than a real package's worth of objects: a
# hostile document costs the reactor milliseconds, not seconds. The bounds count the
# marks every item needs (a "," between classifiers, a "{" per file, a "[" per release).
BOUNDS = {
    "classifiers": ((b",", 10_000),),
    "urls": ((b"{", 10_000),),  # a file and its digests: two each
    "vulnerabilities": ((b"{", 10_000),),
    "releases": ((b"[", 10_000), (b"{", 200_000)),
}
# parts a badge can do without: over their bounds or misshapen, they are dropped (None: the
# vulnerabilities are unknown; ``newest`` is the latest release), not the whole document
OPTIONAL = ("vulnerabilities", "releases")


Decoded = type[Document] | type[Info]  # the Structs decoded field by field


def _splitter(struct: Decoded) -> msgspec.json.Decoder[Any]:
    fields = [(name, msgspec.Raw, msgspec.Raw(b"null")) for name in struct.__struct_fields__]
    return msgspec.json.Decoder(msgspec.defstruct(f"{struct.__name__}Parts", fields))


# what msgspec raises for a body that is not the document: misshapen, or nested past Python's
# recursion limit (msgspec counts its depth against it, even in the parts it skips)
_UNDECODED = (msgspec.DecodeError, RecursionError)
_SPLIT: dict[Decoded, msgspec.json.Decoder[Any]] = {struct: _splitter(struct) for struct in (Document, Info)}
_DECODERS: dict[tuple[Decoded, str], msgspec.json.Decoder[Any]] = {
    (struct, field.name): msgspec.json.Decoder(field.type)
    for struct in (Document, Info)
    for field in msgspec.structs.fields(struct)
}


def _fields(raw: bytes, struct: Decoded) -> dict[str, Any]:
    """The fields of ``struct`` in ``raw``, each decoded only within its bounds."""
    parts = _SPLIT[struct].decode(raw)
    values: dict[str, Any] = {}
    for name in struct.__struct_fields__:
        part = bytes(getattr(parts, name))
        try:
            if any(part.count(mark) > most for mark, most in BOUNDS.get(name, ())):
                raise Garbled(f"{name} has too many items")
            values[name] = (
                Info(**_fields(part, Info)) if name == "info" else _DECODERS[struct, name].decode(part)
            )
        except (Garbled, msgspec.DecodeError):
            if name not in OPTIONAL:
                raise
            values[name] = None
    return values


def decode_pypi(body: bytes) -> Document:
    """The fields pypipin reads of a PyPI JSON API document; ``Garbled`` if it is not one."""
    try:
        return Document(**_fields(body, Document))
    except _UNDECODED as error:
        raise Garbled(str(error)) from error


_RELEASE = re.compile(r"[0-9]+(?:\.[0-9]+)*")


def _release(name: str) -> tuple[tuple[int, ...], bool] | None:
    """The release segment a version name starts with, without trailing zeros, and whether
    that is the whole name; None if it has none (or has an epoch)."""
    found = _RELEASE.match(name)
    if found is None or "!" in name:
        return None
    numbers = [int(part) for part in found.group().split(".")]
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers), found.end() == len(name)


def _newest_release(releases: dict[str, list[File]] | None) -> str:
    """The highest PEP 440 version with at least one non-yanked file.

    Cheap on thousands of versions: names are first compared by their release segment
    (``1.2.3`` as numbers), and only those that can still win are parsed as versions.
    """
    named = [
        (_release(name), name)
        for name, files in (releases or {}).items()
        if len(name) <= MAX_FIELD and any(not f.yanked for f in files)
    ]
    # the highest of the names that are nothing but a release segment (each a valid version)
    top = max((release[0] for release, _ in named if release is not None and release[1]), default=None)
    best: tuple[Version, str] | None = None
    for release, name in named:
        if release is not None and top is not None and release[0] < top:
            continue  # a smaller release segment is a smaller version, whatever follows it
        try:
            version = Version(name)
        except InvalidVersion:
            continue
        if best is None or version > best[0]:
            best = (version, name)
    return best[1] if best else ""


def _bounded(value: str | None, limit: int = MAX_FIELD) -> str:
    """``value`` when it is at most ``limit`` characters, else nothing."""
    return value if value is not None and len(value) <= limit else ""


def _tags(files: list[File]) -> tuple[list[str], list[str]]:
    """The distinct ABI tags and platform tags of the wheels among ``files``, sorted."""
    abis: set[str] = set()
    platforms: set[str] = set()
    wheels = [
        f.filename
        for f in files
        if f.filename.endswith(".whl") and len(f.filename) <= 255 and f.filename.count(".") <= MAX_WHEEL_DOTS
    ]
    for filename in wheels[:MAX_WHEELS]:
        try:
            tags = parse_wheel_filename(filename)[3]
        except (InvalidWheelFilename, InvalidVersion):
            continue
        abis.update(tag.abi for tag in tags)
        platforms.update(tag.platform for tag in tags)
    return sorted(abis)[:MAX_TAGS], sorted(platforms)[:MAX_TAGS]


def from_pypi(body: bytes) -> dict[str, Any]:
    """The summary of a PyPI JSON API document: only what the rules read, every field bounded."""
    document = decode_pypi(body)
    info = document.info
    files = document.urls or []
    classifiers = [
        c for c in info.classifiers or () if len(c) <= MAX_FIELD and c.startswith(CLASSIFIER_PREFIXES)
    ]
    abi_tags, platform_tags = _tags(files)
    vulnerabilities = document.vulnerabilities
    return {
        "version": info.version,
        "newest": _newest_release(document.releases) or info.version,
        "classifiers": classifiers[:MAX_CLASSIFIERS],
        "requires_python": _bounded(info.requires_python),
        "license": (info.license or "").strip()[:LICENSE_CHARS],
        "license_expression": _bounded(info.license_expression),
        "packagetypes": sorted({f.packagetype for f in files if len(f.packagetype) <= 32})[:16],
        "vulnerabilities": None
        if vulnerabilities is None
        else sum(v.withdrawn is None for v in vulnerabilities),
        "abi_tags": abi_tags,
        "platform_tags": platform_tags,
        # the release date: the earliest upload of the latest release's files
        "uploaded": min((f.upload_time_iso_8601[:40] for f in files if f.upload_time_iso_8601), default=""),
    }


_RECENT = msgspec.json.Decoder(Recent)


def from_stats(body: bytes) -> dict[str, int]:
    """Download counts from a pypistats ``/packages/<name>/recent`` document."""
    try:
        data = _RECENT.decode(body).data
    except _UNDECODED as error:
        raise Garbled(str(error)) from error
    return {"day": max(data.last_day, 0), "week": max(data.last_week, 0), "month": max(data.last_month, 0)}
