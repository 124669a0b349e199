"""The renderer's npm packages and node: where they live, whether they are fit, and installing them.

The package ships ``shields/`` (package.json, package-lock.json, server.js); ``npm ci`` puts the
packages into a directory of their own, by default ``$XDG_CACHE_HOME/pypipin/renderer/<hash of
the lock>``, never into site-packages. package.json's ``engines`` field is the one statement of
the node versions the renderer needs.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from twisted.internet import defer, protocol
from twisted.logger import Logger

log = Logger()

SHIELDS_DIR = Path(__file__).resolve().parent / "shields"
SERVER_JS = SHIELDS_DIR / "server.js"
NPM_FILES = ("package.json", "package-lock.json")
OUTPUT_KEPT = 4000  # characters of a failing command's output kept for its error line


class NotReady(Exception):
    """The renderer cannot start; the message names the cause and the fix."""


def manifest() -> dict[str, Any]:
    found: dict[str, Any] = json.loads((SHIELDS_DIR / "package.json").read_text())
    return found


def node_versions() -> SpecifierSet:
    """The node versions package.json's ``engines`` field allows (``>=20.9.0`` style)."""
    wanted = manifest()["engines"]["node"]
    try:
        return SpecifierSet(wanted)
    except InvalidSpecifier:
        raise ValueError(
            f"package.json engines.node {wanted!r} is not a plain comparison like >=20.9.0"
        ) from None


def default_dir() -> Path:
    """The per-user renderer directory for this package's lock file."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    digest = hashlib.sha256((SHIELDS_DIR / "package-lock.json").read_bytes()).hexdigest()[:16]
    return Path(cache, "pypipin", "renderer", digest)


def find_node(node: str) -> str:
    """The node executable's path; NotReady when there is none."""
    found = shutil.which(node)
    if found is None:
        raise NotReady(
            f"node not found ({node}): install Node.js {node_versions()} "
            "or pass --node /path/to/node (PYPIPIN_NODE)"
        )
    return found


def check_node_version(node: str, output: str) -> str:
    """The version ``node --version`` printed; NotReady unless package.json allows it."""
    match = re.fullmatch(r"v(\d+\.\d+\.\d+)\s*", output)
    if match is None:
        raise NotReady(
            f"{node} --version said {output[:80]!r}, not a Node.js version: pass --node /path/to/node"
        )
    if match[1] not in node_versions():
        raise NotReady(
            f"node {match[1]} at {node} is too old: the renderer needs Node.js {node_versions()}; "
            "install a newer one or pass --node /path/to/node"
        )
    return match[1]


def check_dir(directory: Path) -> None:
    """NotReady unless ``directory`` holds this package's lock and every npm package it names."""
    fix = f"run: pypipin renderer install --dir {directory}"
    try:
        lock = (directory / "package-lock.json").read_bytes()
    except OSError:
        raise NotReady(f"the renderer directory {directory} is not provisioned: {fix}") from None
    if lock != (SHIELDS_DIR / "package-lock.json").read_bytes():
        raise NotReady(
            f"the renderer directory {directory} was provisioned for another pypipin version: {fix}"
        )
    missing = [
        name
        for name in manifest()["dependencies"]
        if not (directory / "node_modules" / name / "package.json").is_file()
    ]
    if missing:
        raise NotReady(f"npm packages missing in {directory}/node_modules ({', '.join(missing)}): {fix}")


class _Run(protocol.ProcessProtocol):
    """One child process: its exit code and the tail of its output; cancelling kills it."""

    def __init__(self) -> None:
        self.output = ""
        self.ended: defer.Deferred[int] = defer.Deferred(self._kill)

    def _kill(self, _: object) -> None:
        if self.transport is not None:  # spawnProcess sets it before anyone can cancel
            self.transport.signalProcess(signal.SIGTERM)

    def childDataReceived(self, fd: int, data: bytes) -> None:
        self.output = (self.output + data.decode("utf-8", "replace"))[-OUTPUT_KEPT:]

    def processEnded(self, reason: Any) -> None:
        if not self.ended.called:
            self.ended.callback(reason.value.exitCode)


async def run(reactor: Any, argv: list[str], cwd: str | None = None) -> tuple[int, str]:
    """Runs ``argv`` without blocking the reactor: its exit code and the end of its output."""
    child = _Run()
    reactor.spawnProcess(child, argv[0], argv, env=dict(os.environ), path=cwd)
    return await child.ended, child.output.strip()


async def check_node(reactor: Any, node: str) -> tuple[str, str]:
    """The path and version of a node that package.json's engines allow; NotReady naming the cause and fix."""
    path = find_node(node)
    code, output = await run(reactor, [path, "--version"])
    if code != 0:
        raise NotReady(f"{path} --version failed ({output[-200:]!r}): pass --node /path/to/node")
    return path, check_node_version(path, output)


async def install(reactor: Any, directory: Path, node: str) -> None:
    """``npm ci --omit=dev`` of the shipped lock into ``directory``, via a sibling then a rename.

    Several daemons may install at once: each into its own sibling; the first rename wins.
    """
    try:
        check_dir(directory)
        return
    except NotReady:
        pass
    npm = shutil.which("npm", path=os.pathsep.join([os.path.dirname(node), os.environ.get("PATH", "")]))
    if npm is None:
        raise NotReady(
            f"npm not found beside {node} or on PATH: install npm, or provision the renderer "
            "ahead with: pypipin renderer install --dir DIR, then pass --renderer-dir DIR"
        )
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".partial", dir=directory.parent))
        for name in NPM_FILES:
            shutil.copyfile(SHIELDS_DIR / name, work / name)
    except OSError as failure:
        raise NotReady(
            f"cannot write beside the renderer directory {directory} ({failure}): set XDG_CACHE_HOME "
            "to a writable directory, or pass --renderer-dir DIR made by pypipin renderer install"
        ) from None
    log.info(
        "Installing the renderer's npm packages into {directory} (npm ci --omit=dev)", directory=directory
    )
    started = time.monotonic()
    try:
        code, output = await run(
            reactor, [npm, "ci", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error"], str(work)
        )
        if code != 0:
            raise NotReady(
                f"npm ci in {work} failed with exit code {code}: {' | '.join(output.splitlines()[-5:])}"
            )
        _replace(work, directory)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    check_dir(directory)
    log.info(
        "Installed the renderer into {directory} in {seconds:.1f} s",
        directory=directory,
        seconds=time.monotonic() - started,
    )


def _replace(work: Path, directory: Path) -> None:
    """Puts ``work`` at ``directory``, unless an install that finished first is there already."""
    try:
        check_dir(directory)
        return
    except NotReady:
        pass
    if directory.exists():
        for name in NPM_FILES + ("node_modules",):
            old = directory / name
            if old.is_dir():
                shutil.rmtree(old)
            elif old.exists():
                old.unlink()
        for name in NPM_FILES + ("node_modules",):
            (work / name).rename(directory / name)
    else:
        work.rename(directory)
