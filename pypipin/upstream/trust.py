"""The PEP 691 simple API and PEP 740 Integrity API documents, decoded into only what the trust badges use.

A simple document becomes the project's status and, for its most recent releases, how many
files it has and which of them carry a provenance; an Integrity answer becomes its publisher.
"""

from collections.abc import Callable
from typing import Any

import msgspec
from packaging.utils import canonicalize_version
from packaging.version import InvalidVersion, Version

from pypipin.upstream.summary import Garbled

SIMPLE_ACCEPT = b"application/vnd.pypi.simple.v1+json"
INTEGRITY_ACCEPT = b"application/vnd.pypi.integrity.v1+json"
MAX_FILES = 100_000  # most files of a simple document read: numpy has about 5,000
MAX_FIELD = 200
RECENT_RELEASES = 16  # releases kept, the most recently uploaded: the latest is among them
# the summary of an index with no simple document in JSON
NO_SIMPLE: dict[str, Any] = {"api": "", "status": None, "attests": False, "releases": {}}
STATUSES = ("active", "archived", "quarantined", "deprecated")


class Meta(msgspec.Struct, gc=False):
    api_version: str = msgspec.field(default="", name="api-version")


class Status(msgspec.Struct, gc=False):
    status: str = ""


class SimpleFile(msgspec.Struct, gc=False, omit_defaults=True):
    filename: str = ""
    upload_time: str = msgspec.field(default="", name="upload-time")
    # absent (an index before api-version 1.3), None (no attestation) or the Integrity API URL
    provenance: str | msgspec.UnsetType | None = msgspec.UNSET


class SimpleDocument(msgspec.Struct):
    """``GET {index}/simple/<name>/`` with ``Accept: application/vnd.pypi.simple.v1+json``."""

    meta: Meta = msgspec.field(default_factory=Meta)
    project_status: Status | None = msgspec.field(default=None, name="project-status")
    files: list[SimpleFile] = msgspec.field(default_factory=list)


class Publisher(msgspec.Struct, gc=False):
    kind: str = ""
    repository: str = ""


class Bundle(msgspec.Struct, gc=False):
    publisher: Publisher | None = None


class Provenance(msgspec.Struct):
    """``GET {index}/integrity/<project>/<version>/<filename>/provenance``."""

    attestation_bundles: list[Bundle] = msgspec.field(default_factory=list)


_SIMPLE = msgspec.json.Decoder(SimpleDocument)
_PROVENANCE = msgspec.json.Decoder(Provenance)
_UNDECODED = (msgspec.DecodeError, RecursionError)


def _raw_version(filename: str) -> str | None:
    """The version text in a distribution's file name (a wheel's second part, an sdist's last), or None."""
    if filename.endswith(".whl"):
        parts = filename.split("-")
        return parts[1] if len(parts) in (5, 6) else None
    for suffix in (".tar.gz", ".zip"):
        if filename.endswith(suffix):
            name, dash, version = filename.removesuffix(suffix).rpartition("-")
            return version if name and dash else None
    if filename.endswith(".egg"):
        parts = filename.split("-")
        return parts[1] if len(parts) >= 2 else None
    return None


def _versions() -> Callable[[str], str | None]:
    """The normal version of a file name, each distinct version text parsed once (a release has many)."""
    seen: dict[str, str | None] = {}

    def version(filename: str) -> str | None:
        raw = _raw_version(filename)
        if raw is None or len(raw) > MAX_FIELD:
            return None
        if raw not in seen:
            try:
                seen[raw] = canonicalize_version(Version(raw))
            except InvalidVersion:
                seen[raw] = None
        return seen[raw]

    return version


def from_simple(body: bytes) -> dict[str, Any]:
    """The summary of a simple document: ``api`` (its api-version, "" for an index with no JSON form),
    ``status`` (None when absent), ``attests`` (whether files carry a provenance key) and ``releases``:
    canonical version (``2.0.0`` and ``2.0`` are ``2``) -> [files, attested files, one attested file's
    name or ""]."""
    if body.lstrip()[:1] != b"{":  # the HTML form: this index has no JSON one
        return dict(NO_SIMPLE)
    if body.count(b"{") > 4 * MAX_FILES:  # a file, its hashes and its metadata hashes
        raise Garbled("too many files")
    try:
        document = _SIMPLE.decode(body)
    except _UNDECODED as error:
        raise Garbled(str(error)) from error
    releases: dict[str, list[Any]] = {}
    uploaded: dict[str, str] = {}
    attests = False
    file_version = _versions()
    for each in document.files:
        version = file_version(each.filename) if len(each.filename) <= 255 else None
        if version is None:
            continue
        attests = attests or each.provenance is not msgspec.UNSET
        release = releases.setdefault(version, [0, 0, ""])
        release[0] += 1
        if isinstance(each.provenance, str):
            release[1] += 1
            release[2] = release[2] or each.filename
        uploaded[version] = max(uploaded.get(version, ""), each.upload_time[:MAX_FIELD])
    recent = sorted(releases, key=lambda version: uploaded[version], reverse=True)[:RECENT_RELEASES]
    status = document.project_status.status if document.project_status is not None else None
    return {
        "api": document.meta.api_version[:16],
        "status": status if status in STATUSES or status is None else "",
        "attests": attests,
        "releases": {version: releases[version] for version in recent},
    }


def from_integrity(body: bytes) -> dict[str, str]:
    """The publisher of a provenance object: ``github.com/<repository>``, ``gitlab.com/<repository>``,
    ``google``, another kind by its name, or "" when it names none."""
    try:
        bundles = _PROVENANCE.decode(body).attestation_bundles
    except _UNDECODED as error:
        raise Garbled(str(error)) from error
    for bundle in bundles:
        publisher = bundle.publisher
        if publisher is None or not publisher.kind:
            continue
        kind = publisher.kind.lower()[:32]
        if kind in ("github", "gitlab") and 0 < len(publisher.repository) <= MAX_FIELD:
            return {"publisher": f"{kind}.com/{publisher.repository}"}
        return {"publisher": kind}
    return {"publisher": ""}
