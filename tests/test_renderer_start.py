"""The renderer's npm packages and node: checks, provisioning, and a renderer that cannot start."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.internet.threads import deferToThread

from fakepypi import FakeUpstream
from processes import ROOT
from pypipin.renderer.provision import SHIELDS_DIR, NotReady, check_dir, check_node, check_node_version, default_dir, install, manifest, node_versions
from pypipin.waiting import poll_until, sleep
from util import get

PYPIPIN = str(Path(sys.executable).with_name("pypipin"))
ENGINES = manifest()["engines"]["node"]


def test_engines_is_the_one_statement_of_the_node_version() -> None:
    assert str(node_versions()) == ENGINES
    for path in [ROOT / "README.md", ROOT / "scripts" / "setup.sh", ROOT / ".ci" / "run", *ROOT.glob("conf/*")]:
        for stated in re.findall(r"Node\.js ([<>=~^]*\s*v?\d[\w.]*\+?)", path.read_text()):
            assert stated == ENGINES, (path.name, stated)
    assert f"Node.js {ENGINES}" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize(("output", "cause"), [
    ("v18.19.0\n", "too old"), ("v20.8.1", "too old"), ("bash 5.2", "not a Node.js version"), ("", "not a Node.js"),
])
def test_node_versions_refused(output: str, cause: str) -> None:
    with pytest.raises(NotReady, match=cause) as refused:
        check_node_version("/usr/local/bin/node", output)
    assert "--node" in str(refused.value)


def test_node_versions_accepted() -> None:
    assert check_node_version("node", "v20.9.0\n") == "20.9.0"
    assert check_node_version("node", "v24.1.0") == "24.1.0"


def fill(directory: Path, lock: bytes, modules: list[str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "package-lock.json").write_bytes(lock)
    for name in modules:
        (directory / "node_modules" / name).mkdir(parents=True)
        (directory / "node_modules" / name / "package.json").write_text("{}")
    return directory


def test_check_dir_names_what_is_wrong_and_the_fix(tmp_path: Path) -> None:
    lock = (SHIELDS_DIR / "package-lock.json").read_bytes()
    names = sorted(manifest()["dependencies"])
    cases = [
        (tmp_path / "absent", "is not provisioned"),
        (fill(tmp_path / "other", b"{}", names), "another pypipin version"),
        (fill(tmp_path / "partial", lock, names[1:]), f"npm packages missing in .*\\({names[0]}\\)"),
    ]
    for directory, cause in cases:
        with pytest.raises(NotReady, match=cause) as refused:
            check_dir(directory)
        assert f"pypipin renderer install --dir {directory}" in str(refused.value)
    check_dir(fill(tmp_path / "whole", lock, names))


def test_default_dir_is_per_user_and_keyed_by_the_lock(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = default_dir()
    assert first.parent == tmp_path / "pypipin" / "renderer" and len(first.name) == 16
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_dir() == tmp_path / "home" / ".cache" / "pypipin" / "renderer" / first.name


@pytest_twisted.ensureDeferred
async def test_missing_npm_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(NotReady, match="npm not found"):
        await install(reactor, tmp_path / "r", str(tmp_path / "node"))
    assert not (tmp_path / "r").exists()


@pytest.mark.processes
@pytest_twisted.ensureDeferred
async def test_check_node_runs_it(tmp_path: Path) -> None:
    path, version = await check_node(reactor, "node")
    assert path == shutil.which("node") and version in node_versions()
    old = tmp_path / "node"
    old.write_text("#!/bin/sh\necho v18.19.0\n")  # a node too old: only its --version matters here
    old.chmod(0o755)
    with pytest.raises(NotReady, match="18.19.0 .* too old"):
        await check_node(reactor, str(old))


@pytest.mark.processes
@pytest_twisted.ensureDeferred
async def test_concurrent_installs_give_one_whole_directory(tmp_path: Path) -> None:
    """Two daemons starting at once: both succeed, one directory, no partial ones left."""
    target = tmp_path / "cache" / "renderer" / "abc"
    node = shutil.which("node")
    await defer.gatherResults([defer.ensureDeferred(install(reactor, target, node)) for _ in range(2)],
                              consumeErrors=True)
    check_dir(target)
    assert sorted(path.name for path in target.parent.iterdir()) == ["abc"]
    before = (target / "node_modules").stat().st_mtime_ns
    started = reactor.seconds()
    await install(reactor, target, node)  # present: nothing to do
    assert reactor.seconds() - started < 1 and (target / "node_modules").stat().st_mtime_ns == before


@pytest.mark.processes
@pytest_twisted.ensureDeferred
async def test_without_node_one_line_of_log_and_everything_else_works(upstream: FakeUpstream, start_daemon) -> None:
    """--node /nonexistent/node for 30 s: health says why, JSON/home/metrics answer, under 20 KB of log."""
    upstream.add("demo")
    # the log measured is the daemon's own: this test's requests are kept out of it
    daemon = await start_daemon("none", "--node", "/nonexistent/node", "--access-log", "none").ready()
    until = reactor.seconds() + 30
    while reactor.seconds() < until:
        response, body = await get(f"{daemon.url}/health")
        problem = json.loads(body)["renderer_problem"]
        assert response.code == 503 and "node not found (/nonexistent/node)" in problem and "--node" in problem
        response, body = await get(f"{daemon.url}/v/demo/badge.json")
        assert response.code == 200 and json.loads(body)["message"] == "v1.2.3"
        for path in ("/", "/metrics"):
            response, _ = await get(daemon.url + path)
            assert response.code == 200, path
        started = reactor.seconds()
        response, _ = await get(f"{daemon.url}/v/demo/badge.svg")
        assert response.code == 503 and reactor.seconds() - started < 2  # at once, not after the 5 s wait
        await sleep(reactor, 1)
    log = daemon.log_text()
    assert len(log.encode()) < 20_000
    assert log.count("Renderer cannot start") == 1 and not daemon.children()


@pytest.mark.processes
@pytest_twisted.ensureDeferred
async def test_renderer_dir_is_never_installed_into_and_is_picked_up_once_made(
    upstream: FakeUpstream, start_daemon, tmp_path: Path
) -> None:
    """An explicit --renderer-dir is the operator's: the daemon says what to run, then uses it."""
    upstream.add("demo")
    directory = tmp_path / "renderer"
    daemon = await start_daemon("none", "--renderer-dir", str(directory)).ready()

    async def problem() -> str | None:
        _, body = await get(f"{daemon.url}/health")
        return json.loads(body)["renderer_problem"]

    deadline = reactor.seconds() + 10  # after node --version
    while await problem() is None:
        assert reactor.seconds() < deadline
        await sleep(reactor, 0.1)
    assert f"pypipin renderer install --dir {directory}" in await problem()
    assert not directory.exists() and not list(tmp_path.iterdir())  # no npm run, no network
    made = await deferToThread(subprocess.run, [PYPIPIN, "renderer", "install", "--dir", str(directory)],
                               capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    assert f"renderer ready in {directory}" in made.stdout

    async def up() -> bool:
        response, _ = await get(f"{daemon.url}/health")
        return response.code == 200

    deadline = reactor.seconds() + 90  # the next check comes within 60 s
    while not await up():
        assert reactor.seconds() < deadline
        await sleep(reactor, 0.5)
    response, body = await get(f"{daemon.url}/v/demo/badge.png")
    assert response.code == 200 and body.startswith(b"\x89PNG")
    assert daemon.log_text().count("Renderer cannot start") == 1


@pytest.mark.processes
@pytest_twisted.ensureDeferred
async def test_first_start_provisions_the_renderer_while_json_badges_answer(
    upstream: FakeUpstream, start_daemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty cache directory: the daemon runs npm ci into it, logs it, and then draws."""
    upstream.add("demo")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    daemon = await start_daemon("none").ready()
    response, body = await get(f"{daemon.url}/v/demo/badge.json")
    assert response.code == 200
    assert await poll_until(reactor, lambda: "Installed the renderer into" in daemon.log_text(), 240)
    log = daemon.log_text()
    assert f"Installing the renderer's npm packages into {tmp_path}/pypipin/renderer/" in log
    check_dir(next((tmp_path / "pypipin" / "renderer").iterdir()))
    response, body = await get(f"{daemon.url}/v/demo/badge.png")
    assert response.code == 200 and body.startswith(b"\x89PNG")


@pytest.mark.processes
@pytest_twisted.ensureDeferred
async def test_a_node_that_dies_at_start_is_restarted_with_back_off(
    upstream: FakeUpstream, start_daemon, tmp_path: Path
) -> None:
    """A node that passes the checks but exits at once: restarts 0.2, 0.4, 0.8 ... s apart, not a loop."""
    dying = tmp_path / "node"
    dying.write_text(f'#!/bin/sh\n[ "$1" = --version ] && exec {shutil.which("node")} --version\n'
                     'echo "node: cannot start" >&2\nexit 1\n')
    dying.chmod(0o755)
    daemon = await start_daemon("none", "--node", str(dying), "--access-log", "none").ready()
    await sleep(reactor, 15)
    response, _ = await get(f"{daemon.url}/health")
    log = daemon.log_text()
    restarts = log.count("procmon starts it again")
    assert response.code == 503 and 3 <= restarts <= 6, restarts  # 0.2 + 0.4 + ... + 6.4 s is 12.6 s
    assert len(log.encode()) < 10_000


@pytest.mark.processes
@pytest_twisted.ensureDeferred
async def test_install_over_another_versions_directory_replaces_it(tmp_path: Path) -> None:
    """`pypipin renderer install --dir D` where D holds an older renderer: D is brought up to date."""
    directory = fill(tmp_path / "renderer", b'{"lockfileVersion": 3}', ["badge-maker", "left-pad"])
    await install(reactor, directory, shutil.which("node"))
    check_dir(directory)
    assert not (directory / "node_modules" / "left-pad").exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["renderer"]
