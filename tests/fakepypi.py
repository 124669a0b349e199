"""A fake PyPI JSON API and pypistats API: a small Twisted web server for the tests.

It serves documents shaped exactly like PyPI's (``/pypi/<name>/json``) and pypistats'
(``/api/packages/<name>/recent``), counts every request, and can be switched to fail.
"""

import hashlib
import json
from collections import Counter
from typing import Any

from twisted.internet import reactor as default_reactor
from twisted.internet.task import deferLater
from twisted.web import resource, server


def release_file(name: str, version: str, packagetype: str, yanked: bool = False) -> dict[str, Any]:
    """One entry of ``urls`` / ``releases[v]``, with every key PyPI sends."""
    if packagetype == "bdist_wheel":
        filename = f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
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


def stats_document(name: str, day: int, week: int, month: int) -> dict[str, Any]:
    """A document shaped like ``GET https://pypistats.org/api/packages/<name>/recent``."""
    return {"data": {"last_day": day, "last_month": month, "last_week": week}, "package": name, "type": "recent_downloads"}


class FakeUpstream(resource.Resource):
    """Serves ``packages`` (normal name -> PyPI document) and ``stats`` (normal name -> counts).

    ``fault`` switches every answer to a failure: ``"500"``, ``"429"`` (with
    Retry-After: 30), ``"429-bare"``, ``"timeout"`` (never answers), ``"garbage"``
    (not JSON), ``"wrong-type"`` (JSON of the wrong shape), ``"trickle"`` (a
    valid document sent 10 bytes every 0.2 s), ``"huge"`` (a 3 MiB JSON body), or None.
    ``requests`` counts requests by path. For other processes, ``/_requests`` answers
    the counts and ``/_fault?set=<fault>`` switches the fault (empty: none).
    """

    isLeaf = True

    def __init__(self, clock: Any = default_reactor) -> None:
        super().__init__()
        self.clock = clock
        self.packages: dict[str, dict[str, Any]] = {}
        self.stats: dict[str, dict[str, Any]] = {}
        self.requests: Counter[str] = Counter()
        self.fault: str | None = None
        self.delay = 0.0
        self.hung: list[server.Request] = []

    def add(self, name: str, day: int = 10, week: int = 100, month: int = 1000, **document: Any) -> None:
        self.packages[name] = pypi_document(name, **document)
        self.stats[name] = stats_document(name, day, week, month)

    def total(self, prefix: str = "/") -> int:
        return sum(count for path, count in self.requests.items() if path.startswith(prefix))

    def render_GET(self, request: server.Request) -> Any:
        path = request.path.decode("utf-8", "replace")
        if path == "/_requests":  # for benchmarks in other processes
            return json.dumps(self.requests).encode()
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
        parts = path.strip("/").split("/")
        document = None
        if len(parts) == 3 and parts[0] == "pypi" and parts[2] == "json":
            document = self.packages.get(parts[1])
        elif len(parts) == 4 and parts[:2] == ["api", "packages"] and parts[3] == "recent":
            document = self.stats.get(parts[2])
        if document is None:
            request.setResponseCode(404)
            return b'{"message": "Not Found"}'
        return json.dumps(document).encode()

    def release_hung(self) -> None:
        for request in self.hung:
            if not request._disconnected:
                request.finish()
        self.hung.clear()


def serve(port: int, packages: int, delay: float = 0.0) -> None:
    """Serve ``pkg0`` .. ``pkg<N-1>`` on a loopback port until killed (for the benchmarks)."""
    fake = FakeUpstream()
    fake.delay = delay
    for n in range(packages):
        fake.add(f"pkg{n}", version=f"1.{n}.0", classifiers=["Development Status :: 4 - Beta", "Typing :: Typed"],
                 month=n * 1000)
    default_reactor.listenTCP(port, server.Site(fake), interface="127.0.0.1")
    default_reactor.run()


if __name__ == "__main__":
    import sys

    serve(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 0.0)
