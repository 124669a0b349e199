"""A fake PyPI (JSON, simple and Integrity APIs) and pypistats API: a small Twisted web server for the tests.

It serves documents shaped exactly like PyPI's (``/pypi/<name>/json``, ``/simple/<name>/`` as warehouse's
PEP 691 JSON, ``/integrity/<name>/<version>/<filename>/provenance``) and pypistats'
(``/api/packages/<name>/recent``), counts every request, and can be switched to fail.
"""

import base64
import email.utils
import functools
import gzip
import hashlib
import json
import zlib
from collections import Counter
from typing import Any
from xml.sax.saxutils import escape

from packaging.version import InvalidVersion, Version
from twisted.internet import reactor as default_reactor
from twisted.internet.task import deferLater
from twisted.protocols import policies
from twisted.web import http, resource, server


def release_file(
    name: str, version: str, packagetype: str, yanked: bool = False, tags: str = "py3-none-any"
) -> dict[str, Any]:
    """One entry of ``urls`` / ``releases[v]``, with every key PyPI sends; ``tags`` those of a wheel."""
    if packagetype == "bdist_wheel":
        filename = f"{name.replace('-', '_')}-{version}-{tags}.whl"
    elif packagetype == "bdist_egg":
        filename = f"{name}-{version}-py2.7.egg"
    else:
        filename = f"{name}-{version}.tar.gz"
    digest = hashlib.sha256(filename.encode()).hexdigest()
    return {
        "comment_text": "",
        "digests": {"blake2b_256": digest, "md5": digest[:32], "sha256": digest},
        "downloads": -1,
        "filename": filename,
        "has_sig": False,
        "md5_digest": digest[:32],
        "packagetype": packagetype,
        "python_version": "py3" if packagetype == "bdist_wheel" else "source",
        "requires_python": ">=3.9",
        "size": 123456,
        "upload_time": "2025-06-01T12:00:00",
        "upload_time_iso_8601": "2025-06-01T12:00:00.000000Z",
        "url": f"https://files.pythonhosted.org/packages/ab/cd/{filename}",
        "yanked": yanked,
        "yanked_reason": "broken" if yanked else None,
    }


def pypi_document(
    name: str,
    version: str = "1.2.3",
    classifiers: list[str] | None = None,
    packagetypes: tuple[str, ...] = ("sdist", "bdist_wheel"),
    license: str | None = None,
    license_expression: str | None = None,
    requires_python: str | None = ">=3.9",
    releases: dict[str, list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """A document shaped like ``GET https://pypi.org/pypi/<name>/json``."""
    files = [release_file(name, version, kind) for kind in packagetypes]
    all_releases = {"0.1.0": [release_file(name, "0.1.0", "sdist")], version: files}
    all_releases.update(releases or {})
    return {
        "info": {
            "author": "A. Maintainer",
            "author_email": "maintainer@example.org",
            "bugtrack_url": None,
            "classifiers": classifiers if classifiers is not None else [],
            "description": "# " + name + "\n\nA long description.\n",
            "description_content_type": "text/markdown",
            "docs_url": None,
            "download_url": "",
            "downloads": {"last_day": -1, "last_month": -1, "last_week": -1},
            "dynamic": None,
            "home_page": "",
            "keywords": "",
            "license": license,
            "license_expression": license_expression,
            "license_files": None,
            "maintainer": "",
            "maintainer_email": "",
            "name": name,
            "package_url": f"https://pypi.org/project/{name}/",
            "platform": None,
            "project_url": f"https://pypi.org/project/{name}/",
            "project_urls": {"Homepage": f"https://example.org/{name}"},
            "provides_extra": None,
            "release_url": f"https://pypi.org/project/{name}/{version}/",
            "requires_dist": None,
            "requires_python": requires_python,
            "summary": f"The {name} package",
            "version": version,
            "yanked": False,
            "yanked_reason": None,
        },
        "last_serial": 12345678,
        "releases": all_releases,
        "urls": files,
        "vulnerabilities": [],
    }


PLATFORMS = (
    "manylinux_2_17_x86_64.manylinux2014_x86_64",
    "manylinux_2_17_aarch64.manylinux2014_aarch64",
    "musllinux_1_2_x86_64",
    "musllinux_1_2_aarch64",
    "macosx_10_13_x86_64",
    "macosx_11_0_arm64",
    "win_amd64",
    "win32",
    "win_arm64",
    "manylinux_2_17_ppc64le.manylinux2014_ppc64le",
    "manylinux_2_17_s390x.manylinux2014_s390x",
    "manylinux_2_17_armv7l.manylinux2014_armv7l",
)
# the biggest real documents, by shape: releases, wheels per release and the tags of wheel n
BIG = {
    "uv": (260, 24, lambda n: f"py3-none-{PLATFORMS[n % len(PLATFORMS)]}"),
    "numpy": (130, 36, lambda n: f"cp3{10 + n // 12}-cp3{10 + n // 12}-{PLATFORMS[n % len(PLATFORMS)]}"),
    "boto3": (2400, 1, lambda n: "py3-none-any"),
}
BIG_CLASSIFIERS = [  # the classifiers of the big documents
    "Development Status :: 5 - Production/Stable",
    "Intended Audience :: Developers",
    "Intended Audience :: Science/Research",
    "License :: OSI Approved :: BSD License",
    "Operating System :: MacOS",
    "Operating System :: Microsoft :: Windows",
    "Operating System :: POSIX :: Linux",
    "Programming Language :: C",
    "Programming Language :: Python",
    "Programming Language :: Python :: 3",
    *(f"Programming Language :: Python :: 3.{minor}" for minor in range(10, 15)),
    "Programming Language :: Python :: 3 :: Only",
    "Programming Language :: Python :: Implementation :: CPython",
    "Programming Language :: Python :: Implementation :: PyPy",
    "Topic :: Scientific/Engineering",
    "Topic :: Software Development",
    "Typing :: Typed",
]


def big_document(name: str) -> dict[str, Any]:
    """A 3-5 MB document shaped like ``name``'s on PyPI (uv, numpy or boto3): thousands of files."""
    count, wheels, tags = BIG[name]
    versions = [
        f"{1 + n // 400}.{n // 20 % 20}.{n % 20}" + ("rc1" if n % 9 == 8 else "") for n in range(count)
    ]
    releases = {
        version: [release_file(name, version, "sdist")]
        + [release_file(name, version, "bdist_wheel", tags=tags(n)) for n in range(wheels)]
        for version in versions
    }
    document = pypi_document(
        name,
        version=versions[-2],
        classifiers=BIG_CLASSIFIERS,
        releases=releases,
        license_expression="BSD-3-Clause",
    )
    document["info"]["description"] = f"# {name}\n\n" + "A long description of the package. " * 300
    document["urls"] = releases[versions[-2]]
    del document["releases"]["0.1.0"]
    return document


def many_releases(name: str, count: int = 300_000) -> dict[str, Any]:
    """A hostile document: ``count`` releases (about 15 MB of JSON)."""
    document = pypi_document(name)
    document["releases"] = {f"0.{n}": [{"packagetype": "sdist", "yanked": False}] for n in range(count)}
    return document


def gzip_bomb(decoded_mib: int = 64) -> bytes:
    """A small gzip body (about 64 KiB) that inflates to ``decoded_mib`` MiB of JSON-looking text."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b" " * (1024 * 1024)
    parts = [packer.compress(b'{"info": {"description": "')]
    parts += [packer.compress(chunk) for _ in range(decoded_mib)]
    return b"".join(parts) + packer.compress(b'"}}') + packer.flush()


@functools.lru_cache(maxsize=1)
def _bomb() -> bytes:
    return gzip_bomb()


@functools.lru_cache(maxsize=8)
def _gzipped(body: bytes) -> bytes:
    return gzip.compress(body, 6)


class _Counting(policies.ProtocolWrapper):
    """Adds every byte written to the connection to its fake's ``sent``."""

    def write(self, data: bytes) -> None:
        self.factory.fake.sent += len(data)
        super().write(data)

    def writeSequence(self, data: list[bytes]) -> None:
        self.factory.fake.sent += sum(map(len, data))
        super().writeSequence(data)


def _legacy_order(version: str) -> tuple[int, Version, str]:
    """Warehouse's order of versions (packaging_legacy's): one that is not PEP 440 before all that are."""
    try:
        return 1, Version(version), ""
    except InvalidVersion:
        return 0, Version("0"), version


def simple_document(
    name: str,
    document: dict[str, Any],
    api_version: str = "1.4",
    status: str | None = "active",
    attested: frozenset[str] | None = frozenset(),
) -> dict[str, Any]:
    """A document shaped like warehouse's ``GET /simple/<name>/`` (PEP 691 JSON) for the files of a JSON
    ``document``: ``attested`` the file names with a provenance. At ``api_version`` 1.1 there is no
    ``project-status`` and no file has a ``provenance`` key (``attested`` None: an index that has none);
    a ``status`` None leaves the key out (as PEP 792 allows)."""
    versions = sorted(document["releases"], key=_legacy_order)
    files: list[dict[str, Any]] = []
    for version in versions:
        for each in document["releases"][version]:
            entry = {
                "filename": each["filename"],
                "url": each["url"],
                "hashes": {"sha256": each["digests"]["sha256"]},
                "requires-python": each["requires_python"],
                "size": each["size"],
                "upload-time": each["upload_time_iso_8601"],
                "yanked": each["yanked_reason"] or each["yanked"],
                "data-dist-info-metadata": False,
                "core-metadata": False,
            }
            if attested is not None and api_version >= "1.3":
                entry["provenance"] = (
                    f"https://pypi.org/integrity/{name}/{version}/{each['filename']}/provenance"
                    if each["filename"] in attested
                    else None
                )
            files.append(entry)
    simple: dict[str, Any] = {"meta": {"api-version": api_version, "_last-serial": document["last_serial"]}}
    simple["name"] = name
    if status is not None and api_version >= "1.4":
        simple["project-status"] = {"status": status}
    simple["versions"] = versions
    simple["files"] = files
    return simple


def provenance_document(publisher: dict[str, Any]) -> dict[str, Any]:
    """An Integrity API answer shaped like warehouse's: one bundle from ``publisher``, one attestation."""
    statement = base64.b64encode(b'{"_type": "https://in-toto.io/Statement/v1"}').decode()
    return {
        "version": 1,
        "attestation_bundles": [
            {
                "publisher": {"claims": None, **publisher},
                "attestations": [
                    {
                        "version": 1,
                        "envelope": {"signature": "MEUCIQD1", "statement": statement},
                        "verification_material": {"certificate": "MIIGoTCC", "transparency_entries": []},
                    }
                ],
            }
        ],
    }


GITHUB = {"kind": "GitHub", "repository": "pypa/sampleproject", "workflow": "release.yml", "environment": ""}


def stats_document(name: str, day: int, week: int, month: int) -> dict[str, Any]:
    """A document shaped like ``GET https://pypistats.org/api/packages/<name>/recent``."""
    return {
        "data": {"last_day": day, "last_month": month, "last_week": week},
        "package": name,
        "type": "recent_downloads",
    }


class FakeUpstream(resource.Resource):
    """Serves ``packages`` (normal name -> PyPI document) and ``stats`` (normal name -> counts).

    A document may be given as its JSON body (bytes) too. Like PyPI, it answers gzip to a
    client that accepts it and gives each document an ``ETag`` (and, if ``validators``
    says so, a ``Last-Modified``: the time it was ``add``-ed), answering 304 to a request
    that names the current one.

    ``fault`` switches every answer to a failure: ``"500"``, ``"429"`` (with
    Retry-After: 30), ``"429-bare"``, ``"timeout"`` (never answers), ``"garbage"``
    (not JSON), ``"wrong-type"`` (JSON of the wrong shape), ``"trickle"`` (a
    valid document sent 10 bytes every 0.2 s), ``"huge"`` (a 3 MiB JSON body),
    ``"gzip-bomb"`` (64 KiB of gzip inflating to 64 MiB), or None.
    ``requests`` counts requests by path, and ``sent`` the bytes written to connections of
    ``site()``. For other processes, ``/_requests`` answers the counts (and ``/_sent`` the
    bytes), ``/_fault?set=<fault>`` switches the fault (empty: none) and
    ``/_validators?set=etag,last-modified`` the validators given (empty: none).

    ``/rss/updates.xml`` is the update feed, written as warehouse's template writes it, newest
    first, with ``?max_age=`` (seconds) and ``?limit=`` (default 40, at most 200); ``release()``
    (``/_release?name=&version=``) publishes a new version of a package, and ``feed_down``
    (``/_feed?down=1``) makes the feed answer 503 while the JSON API still answers.
    """

    isLeaf = True

    def __init__(self, clock: Any = default_reactor) -> None:
        super().__init__()
        self.clock = clock
        self.packages: dict[str, dict[str, Any] | bytes] = {}
        self.simple: dict[str, dict[str, Any]] = {}  # normal name -> simple document
        self.publishers: dict[str, dict[str, Any]] = {}  # normal name -> its attested files' publisher
        self.stats: dict[str, dict[str, Any]] = {}
        self.added: dict[str, float] = {}
        self.requests: Counter[str] = Counter()
        self.sent = 0
        self.validators: tuple[str, ...] = ("etag",)
        self.fault: str | None = None
        self.delay = 0.0
        self.hung: list[server.Request] = []
        self.released: list[tuple[str, str, float]] = []  # (project, version, created), oldest first
        self.feed_down = False

    def add(self, name: str, day: int = 10, week: int = 100, month: int = 1000, **document: Any) -> None:
        self.packages[name] = pypi_document(name, **document)
        self.simple[name] = simple_document(name, self.packages[name])
        self.stats[name] = stats_document(name, day, week, month)
        self.added[name] = self.clock.seconds()

    def release(self, name: str, version: str) -> None:
        """Publish ``version`` of ``name``: its document's latest release and the feed's newest item."""
        document = self.packages[name]
        assert isinstance(document, dict)
        files = [release_file(name, version, kind) for kind in ("sdist", "bdist_wheel")]
        document["releases"][version] = files
        document["urls"] = files
        document["info"].update(version=version, release_url=f"https://pypi.org/project/{name}/{version}/")
        self.added[name] = self.clock.seconds()
        self.released.append((name, version, self.clock.seconds()))

    def feed(self, max_age: float | None, limit: int) -> bytes:
        """``/rss/updates.xml`` as warehouse's templates (rss/base.xml, rss/updates.xml) write it."""
        now = self.clock.seconds()
        latest = [each for each in reversed(self.released) if max_age is None or each[2] >= now - max_age][
            : max(1, min(limit, 200))
        ]
        items = "".join(
            f"""
    <item>
      <title>{escape(name)} {escape(version)}</title>
      <link>https://pypi.org/project/{escape(name.lower())}/{escape(version)}/</link>
      <description>The {escape(name)} package</description>
      <author>maintainer@example.org</author>
      <pubDate>{email.utils.formatdate(created, usegmt=True)}</pubDate>
    </item>"""
            for name, version, created in latest
        )
        return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
  <channel>
    <title>PyPI recent updates</title>
    <link>https://pypi.org/</link>
    <description>Recent updates to the Python Package Index</description>
    <language>en</language>{items}
  </channel>
</rss>""".encode()

    def attest(
        self, name: str, filenames: frozenset[str] | None = None, publisher: dict[str, Any] = GITHUB
    ) -> None:
        """Give ``filenames`` of ``name`` (None: all the latest release's) a provenance from ``publisher``."""
        document = self.packages[name]
        assert isinstance(document, dict)
        if filenames is None:
            filenames = frozenset(each["filename"] for each in document["urls"])
        self.simple[name] = simple_document(name, document, attested=filenames)
        self.publishers[name] = publisher

    def quarantine(self, name: str) -> None:
        """Quarantine ``name`` as PyPI does: JSON 404, a simple document of no files, ``quarantined``."""
        document = self.packages.pop(name)
        assert isinstance(document, dict)
        self.simple[name] = simple_document(name, {**document, "releases": {}}, status="quarantined")

    def _provenance(self, name: str, version: str, filename: str) -> dict[str, Any] | None:
        """The Integrity API answer for one file; None (404) for a file with no provenance."""
        for each in self.simple.get(name, {}).get("files", ()):
            if (
                each["filename"] == filename
                and each.get("provenance")
                and f"/{version}/" in each["provenance"]
            ):
                return provenance_document(self.publishers[name])
        return None

    def site(self) -> policies.WrappingFactory:
        """A Site serving this fake that counts the bytes it sends in ``sent``."""
        factory = policies.WrappingFactory(server.Site(self))
        factory.protocol = _Counting
        factory.fake = self
        return factory

    def total(self, prefix: str = "/") -> int:
        return sum(count for path, count in self.requests.items() if path.startswith(prefix))

    def render_GET(self, request: server.Request) -> Any:
        path = request.path.decode("utf-8", "replace")
        if path == "/_requests":  # for benchmarks in other processes
            return json.dumps(self.requests).encode()
        if path == "/_sent":
            return str(self.sent).encode()
        if path == "/_validators":
            self.validators = tuple(filter(None, request.args.get(b"set", [b""])[0].decode().split(",")))
            return b"ok"
        if path == "/_release":
            self.release(request.args[b"name"][0].decode(), request.args[b"version"][0].decode())
            return b"ok"
        if path == "/_feed":
            self.feed_down = request.args.get(b"down", [b""])[0] == b"1"
            return b"ok"
        if path == "/_fault":
            self.fault = request.args.get(b"set", [b""])[0].decode() or None
            return b"ok"
        self.requests[path] += 1
        if self.delay:
            deferLater(self.clock, self.delay, self._finish, request, path)
            return server.NOT_DONE_YET
        if self.fault == "timeout":
            self.hung.append(request)
            return server.NOT_DONE_YET
        if self.fault == "trickle":
            self.fault = None
            body = self._answer(request, path)
            self.fault = "trickle"
            self._trickle(request, body)
            return server.NOT_DONE_YET
        return self._answer(request, path)

    def _trickle(self, request: server.Request, rest: bytes) -> None:
        if request._disconnected:
            return
        if not rest:
            request.finish()
            return
        request.write(rest[:10])
        deferLater(self.clock, 0.2, self._trickle, request, rest[10:])

    def _finish(self, request: server.Request, path: str) -> None:
        if not request._disconnected:
            request.write(self._answer(request, path))
            request.finish()

    def _answer(self, request: server.Request, path: str) -> bytes:
        if path == "/rss/updates.xml":
            return self._feed(request)
        request.setHeader(b"Content-Type", b"application/json")
        if self.fault in ("500", "429", "429-bare"):
            request.setResponseCode(int(self.fault[:3]))
            if self.fault == "429":
                request.setHeader(b"Retry-After", b"30")
            return b'{"message": "upstream trouble"}'
        if self.fault == "garbage":
            return b"<html>\x00\xff not json"
        if self.fault == "huge":
            return b'{"info": {"description": "' + b"x" * (3 * 1024 * 1024) + b'"}}'
        if self.fault == "wrong-type":
            return b'{"info": ["not", "an", "object"], "data": 7}'
        if self.fault == "gzip-bomb":
            request.setHeader(b"Content-Encoding", b"gzip")
            return _bomb()
        parts = path.strip("/").split("/")
        document: Any = None
        if len(parts) == 3 and parts[0] == "pypi" and parts[2] == "json":
            document = self.packages.get(parts[1])
            modified = self.added.get(parts[1])
        elif len(parts) == 2 and parts[0] == "simple" and path.endswith("/"):
            document = self.simple.get(parts[1])
            modified = self.added.get(parts[1])
            if "json" not in (request.getHeader(b"Accept") or b"").decode():
                document = b"<!DOCTYPE html><html><body></body></html>" if document else None
            else:
                request.setHeader(b"Content-Type", b"application/vnd.pypi.simple.v1+json")
        elif len(parts) == 5 and parts[0] == "integrity" and parts[4] == "provenance":
            document = self._provenance(*parts[1:4])
            modified = None
        elif len(parts) == 4 and parts[:2] == ["api", "packages"] and parts[3] == "recent":
            document = self.stats.get(parts[2])
            modified = None
        if document is None:
            request.setResponseCode(404)
            return b'{"message": "Not Found"}'
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        etag = b'"' + hashlib.sha256(body).hexdigest()[:32].encode() + b'"'
        fresh = "etag" in self.validators and request.setETag(etag) == http.CACHED
        if "last-modified" in self.validators and modified is not None:
            fresh = request.setLastModified(modified) == http.CACHED or fresh
        if fresh:
            request.setResponseCode(304)
            return b""
        if b"gzip" in (request.getHeader(b"Accept-Encoding") or b""):
            request.setHeader(b"Content-Encoding", b"gzip")
            return _gzipped(body)
        return body

    def _feed(self, request: server.Request) -> bytes:
        request.setHeader(b"Content-Type", b"text/xml")
        if self.feed_down:
            request.setResponseCode(503)
            return b"Service Unavailable"
        max_age = request.args.get(b"max_age", [None])[0]
        limit = request.args.get(b"limit", [b"40"])[0]
        return self.feed(float(max_age) if max_age else None, int(limit))

    def release_hung(self) -> None:
        for request in self.hung:
            if not request._disconnected:
                request.finish()
        self.hung.clear()


class PrivateIndex(FakeUpstream):
    """A second index behind HTTP Basic, as a company's Nexus or devpi is: 401 without the right
    credentials. ``authorizations`` keeps every Authorization header it was sent; ``moved`` maps
    a path to the URL it redirects to (302)."""

    def __init__(self, user: str, password: str, clock: Any = default_reactor) -> None:
        super().__init__(clock)
        self.expected = b"Basic " + base64.b64encode(f"{user}:{password}".encode())
        self.authorizations: list[bytes | None] = []
        self.moved: dict[str, str] = {}

    def render_GET(self, request: server.Request) -> Any:
        given = request.getHeader(b"Authorization")
        self.authorizations.append(given)
        if given != self.expected:
            request.setResponseCode(401)
            request.setHeader(b"WWW-Authenticate", b'Basic realm="private index"')
            return b'{"message": "Unauthorized"}'
        if request.path.decode() in self.moved:
            request.redirect(self.moved[request.path.decode()].encode())
            return b""
        return super().render_GET(request)


# the password of the private index of the tests
SECRET = "s3cret-Pa55word"


def serve_forever(port: int, packages: int, delay: float = 0.0, hostile: bool = False) -> None:
    """Serve ``pkg0`` .. ``pkg<N-1>`` and the ``BIG`` documents (and ``huge``, of 300,000 releases, if
    ``hostile``) on a loopback port until killed (for the benchmarks)."""
    fake = FakeUpstream()
    fake.delay = delay
    for n in range(packages):
        fake.add(
            f"pkg{n}",
            version=f"1.{n}.0",
            classifiers=["Development Status :: 4 - Beta", "Typing :: Typed"],
            month=n * 1000,
        )
    for name in BIG:
        fake.add(name)
        fake.packages[name] = json.dumps(big_document(name)).encode()
    if hostile:
        fake.add("huge")
        fake.packages["huge"] = json.dumps(many_releases("huge")).encode()
    default_reactor.listenTCP(port, fake.site(), interface="127.0.0.1")
    default_reactor.run()


if __name__ == "__main__":
    import sys

    serve_forever(
        int(sys.argv[1]),
        int(sys.argv[2]),
        float(sys.argv[3]) if len(sys.argv) > 3 else 0.0,
        "hostile" in sys.argv[4:],
    )
