"""Packaging: the version, `pypipin` and its checks, the distributions, the systemd unit,
and the wheel alone in a fresh venv serving PNG badges."""

import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.threads import deferToThread

import pypipin
from pypipin.renderer.process import free_port
from pypipin.renderer.provision import default_dir
from pypipin.waiting import sleep
from tests.support.fakepypi import FakeUpstream
from tests.support.loopback import get
from tests.support.processes import PYPIPIN, ROOT, TWISTD, RedisServer, wait_for_port


def run(*argv: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, **kwargs)


@pytest.mark.processes  # runs the pypipin and twistd commands
def test_one_version_everywhere() -> None:
    assert metadata.version("pypipin") == pypipin.__version__
    assert run(PYPIPIN, "--version").stdout == f"pypipin {pypipin.__version__}\n"
    assert run(TWISTD, "pypipin", "--version").stdout == f"pypipin {pypipin.__version__}\n"
    first = run(TWISTD, "pypipin", "--help").stdout.splitlines()[0]
    assert first.startswith("Usage: twistd") and f"pypipin {pypipin.__version__}" in first


@pytest.mark.processes
@pytest_twisted.ensureDeferred
async def test_check_passes_on_a_good_setup(upstream: FakeUpstream, redis: RedisServer) -> None:
    result = await deferToThread(
        run,
        PYPIPIN,
        "check",
        "--redis",
        redis.url,
        "--pypi-url",
        upstream.url + "/pypi",
        "--stats-url",
        upstream.url + "/api",
        "--downloads-source",
        "pypistats",  # no ClickHouse: no line of it (tests/system/test_clickhouse.py checks one)
    )
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "config",
        "node",
        "renderer",
        "redis",
        "pypi",
        "pypistats",
    ]
    assert all(": ok" in line for line in lines), lines
    assert f"connected to redis://127.0.0.1:{redis.port}/0" in lines[3]


@pytest.mark.processes
def test_check_fails_on_a_broken_setup(tmp_path: Path) -> None:
    closed = f"127.0.0.1:{free_port()}"
    result = run(
        PYPIPIN,
        "check",
        "--node",
        "/nonexistent/node",
        "--renderer-dir",
        str(tmp_path),
        "--redis",
        f"redis://{closed}/0",
        "--pypi-url",
        f"http://{closed}/pypi",
        "--stats-url",
        f"http://{closed}/api",
        "--clickhouse-url",
        f"http://{closed}/?user=demo",
    )
    assert result.returncode == 1
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert lines["config"] == "ok"
    assert lines["node"].startswith("FAILED: node not found (/nonexistent/node)")
    assert (
        lines["renderer"] == f"FAILED: the renderer directory {tmp_path} is not provisioned: "
        f"run: pypipin renderer install --dir {tmp_path}"
    )
    assert lines["redis"].startswith(f"FAILED: redis://{closed}/0: ")
    assert all(
        lines[name].startswith("FAILED:") and "refused" in lines[name]
        for name in ("pypi", "pypistats", "clickhouse")
    )
    bad = run(PYPIPIN, "check", "--port", "tcp:8888", "--pypi-ttl", "-1")
    assert bad.returncode == 2 and bad.stdout.startswith("config: FAILED:")


@pytest.mark.processes
def test_systemd_unit_verifies(tmp_path: Path) -> None:
    """conf/pypipin.service as shipped, but for its ExecStart pointing at this venv's twistd."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian: systemd)")
    unit = (ROOT / "conf" / "pypipin.service").read_text()
    assert "ExecStart=/opt/pypipin/bin/twistd -n --pidfile= pypipin\n" in unit
    for line in (
        "User=pypipin",
        "EnvironmentFile=/etc/pypipin/pypipin.env",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "CacheDirectory=pypipin",
        "LimitNOFILE=",
        "LoadCredential=indexes:/etc/pypipin/indexes",
        "PYPIPIN_INDEX_FILE=%d/indexes",
        "LoadCredential=redis-password:/etc/pypipin/redis-password",
        "PYPIPIN_REDIS_PASSWORD_FILE=%d/redis-password",
    ):
        assert line in unit, line
    copy = tmp_path / "pypipin.service"
    copy.write_text(unit.replace("/opt/pypipin/bin/twistd", TWISTD))
    result = run(analyze, "verify", str(copy))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
    copy.write_text(unit.replace("/opt/pypipin/bin/twistd", TWISTD).replace("=strict", "=stricter"))
    assert "stricter" in run(analyze, "verify", str(copy)).stderr  # the check sees a bad value


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist, and the wheel built from it, as `python -m build` makes them."""
    out = tmp_path_factory.mktemp("dist")
    built = run(sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT))
    assert built.returncode == 0, built.stderr[-3000:]
    return {path.suffix: path for path in out.iterdir()}


@pytest.mark.processes
def test_sdist_carries_everything_to_build_test_and_deploy(dists: dict[str, Path]) -> None:
    with tarfile.open(dists[".gz"]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    tracked = run("git", "ls-files", cwd=ROOT).stdout.split()
    wanted = [
        name for name in tracked if name.startswith(("conf/", "pypipin/", "twisted/", "tests/", "scripts/"))
    ]
    wanted += [
        "README.md",
        "setup.py",
        "pyproject.toml",
        "requirements.lock",
        "requirements-test.lock",
        ".ci/run",
    ]
    assert sorted(set(wanted) - names) == []
    assert not [name for name in names if "node_modules" in name or "__pycache__" in name]


@pytest.mark.processes
def test_wheel_carries_what_the_daemon_needs(dists: dict[str, Path]) -> None:
    with zipfile.ZipFile(dists[".whl"]) as wheel:
        names = set(wheel.namelist())
        entry_points = wheel.read(next(name for name in names if name.endswith("entry_points.txt"))).decode()
    modules = {str(path.relative_to(ROOT)) for path in (ROOT / "pypipin").rglob("*.py")}
    shields = {
        f"pypipin/renderer/shields/{name}" for name in ("package.json", "package-lock.json", "server.js")
    }
    static = {f"pypipin/web/static/{path.name}" for path in (ROOT / "pypipin" / "web" / "static").iterdir()}
    assert modules | shields | static | {"twisted/plugins/pypipin_plugin.py"} <= names
    assert not [name for name in names if "node_modules" in name or name.startswith(("tests/", "conf/"))]
    assert "pypipin = pypipin.command:main" in entry_points


@pytest.mark.processes
@pytest_twisted.ensureDeferred
async def test_the_wheel_alone_serves_png_badges(
    dists: dict[str, Path], upstream: FakeUpstream, tmp_path: Path
) -> None:
    """A fresh venv, the wheel, an empty working directory and an empty HOME: twistd draws a PNG."""
    upstream.add("demo")
    venv, home, empty = tmp_path / "venv", tmp_path / "home", tmp_path / "cwd"
    home.mkdir(), empty.mkdir()
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [
            str(venv / "bin" / "pip"),
            "install",
            "--quiet",
            "--require-hashes",
            "-r",
            str(ROOT / "requirements.lock"),
        ],
        [str(venv / "bin" / "pip"), "install", "--quiet", str(dists[".whl"])],
    ]
    for step in steps:
        done = await deferToThread(run, *step)
        assert done.returncode == 0, done.stderr[-3000:]
    assert not list(venv.rglob("node_modules"))
    # pip's and npm's caches are the machine's own, so this costs no downloads when they are warm
    env = {
        **os.environ,
        "HOME": str(home),
        "npm_config_cache": os.path.expanduser("~/.npm"),
        "PIP_CACHE_DIR": os.path.expanduser("~/.cache/pip"),
    }
    env.pop("XDG_CACHE_HOME", None)
    port = free_port()
    log = tmp_path / "twistd.log"
    daemon = subprocess.Popen(
        [
            str(venv / "bin" / "twistd"),
            "-n",
            "--pidfile=",
            "--logfile",
            str(log),
            "pypipin",
            "--redis",
            "none",
            "--port",
            f"tcp:{port}:interface=127.0.0.1",
            "--pypi-url",
            upstream.url + "/pypi",
            "--stats-url",
            upstream.url + "/api",
        ],
        cwd=empty,
        env=env,
    )
    try:
        await deferToThread(wait_for_port, port, 60)
        url = f"http://127.0.0.1:{port}"
        deadline = reactor.seconds() + 240  # the bound for a first start on a cold npm cache
        while True:
            response, body = await get(f"{url}/v/demo/badge.png")
            if response.code == 200:
                break
            assert response.code == 503 and reactor.seconds() < deadline, log.read_text()[-3000:]
            await sleep(reactor, 1)
        assert body.startswith(b"\x89PNG")
        assert list(empty.iterdir()) == []
        assert [path.name for path in (home / ".cache" / "pypipin" / "renderer").iterdir()] == [
            default_dir().name
        ]
        assert "Installed the renderer into" in log.read_text()
    finally:
        daemon.terminate()
        await deferToThread(daemon.wait, 30)


@pytest.mark.processes
def test_run_with_nothing_changed_installs_nothing() -> None:
    """A second ./scripts/run runs no pip and no npm (./scripts/test has just set everything up)."""
    script = str(ROOT / "scripts" / "run")
    assert run(script, "--version").returncode == 0
    traced = run("bash", "-x", script, "--version")
    assert traced.returncode == 0 and traced.stdout == f"pypipin {pypipin.__version__}\n"
    commands = [line for line in traced.stderr.splitlines() if line.startswith("+")]
    assert any("exec" in line and "twistd" in line for line in commands)
    assert [line for line in commands if re.search(r"pip install|npm ci|renderer install", line)] == []
