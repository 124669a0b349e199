"""Running it in production: health, logs, supervisord, and scale-out behind Varnish on one Redis."""

import json
import os
import pwd
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import defer
from twisted.internet.threads import deferToThread

from pypipin.renderer.process import free_port
from tests.support.fakepypi import FakeUpstream
from tests.support.loopback import get, sleep, svg_text
from tests.support.processes import ROOT, RedisServer, wait_for_port

pytestmark = pytest.mark.processes


@pytest_twisted.ensureDeferred
async def test_health(upstream: FakeUpstream, redis: RedisServer, start_daemon) -> None:
    upstream.add("demo")
    daemon = await start_daemon(redis.url).ready()
    await get(f"{daemon.url}/v/demo/badge.svg")
    response, body = await get(daemon.url + "/health")
    state = json.loads(body)
    assert response.code == 200 and state["renderer"] == "up" and state["cache"] == "redis"
    assert state["degraded"] is False and state["cache_error"] is None
    assert state["redis_master"] == f"127.0.0.1:{redis.port}"
    assert set(state["last_upstream_success"]) == {"pypi"}
    broken = await start_daemon("none", "--node", "/bin/false").ready()
    for _ in range(150):  # the renderer's check of node runs once the daemon listens
        response, body = await get(broken.url + "/health")
        state = json.loads(body)
        if state["renderer_problem"] is not None:
            break
        await sleep(0.2)
    assert "/bin/false --version failed" in state.pop("renderer_problem")
    assert set(state.pop("feeds")["pypi"]) == {"mode", "last_read", "since"}  # read or not yet: timing
    assert response.code == 503 and state == {
        "renderer": "down",
        "cache": "in-process",
        "cache_error": None,
        "redis_master": None,
        "degraded": False,
        "last_upstream_success": {},
        "indexes": {"pypi": None},
        "fleet": 1,
    }


@pytest_twisted.ensureDeferred
async def test_supervisord_runs_and_stops_it(upstream: FakeUpstream) -> None:
    """conf/supervisord.conf as shipped, in this checkout (it keeps its logs in var/), but for its
    user: the one running the tests (the shipped pypipin may not exist here)."""
    upstream.add("demo")
    shipped = (ROOT / "conf" / "supervisord.conf").read_text()
    assert "\nuser=pypipin\n" in shipped and '\nenvironment=HOME="/var/lib/pypipin"\n' in shipped
    me = pwd.getpwuid(os.getuid())
    config = ROOT / "var" / "supervisord.conf"  # beside conf/, as %(here)s/.. wants it
    (ROOT / "var" / "log").mkdir(parents=True, exist_ok=True)
    config.write_text(
        shipped.replace("%(here)s/..", str(ROOT))
        .replace("\nuser=pypipin\n", f"\nuser={me.pw_name}\n")
        .replace('HOME="/var/lib/pypipin"', f'HOME="{os.environ.get("HOME", me.pw_dir)}"')
    )
    marker = f"run{free_port()}"
    port = free_port()
    bin_dir = Path(sys.executable).parent
    env = dict(
        os.environ,
        PYPIPIN_PORT=f"tcp:{port}:interface=127.0.0.1",
        PYPIPIN_REDIS="none",
        PYPIPIN_PYPI_URL=upstream.url + "/pypi",
        PYPIPIN_STATS_URL=upstream.url + "/api",
    )
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # started with a low open-files limit, as on many hosts: the config's minfds raises it
    supervisord = subprocess.Popen(
        [str(bin_dir / "supervisord"), "-n", "-c", str(config)],
        env=env,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard)),
    )
    ctl = [str(bin_dir / "supervisorctl"), "-c", str(config)]
    try:
        await deferToThread(wait_for_port, port, 60)
        response, body = await get(f"http://127.0.0.1:{port}/v/demo/badge.svg?{marker}")
        assert response.code == 200 and svg_text(body) == ["pypi", "v1.2.3"]
        status = await deferToThread(
            subprocess.run, [*ctl, "status", "pypipin"], capture_output=True, text=True
        )
        while "STARTING" in status.stdout:  # until startsecs have passed
            await sleep(0.5)
            status = await deferToThread(
                subprocess.run, [*ctl, "status", "pypipin"], capture_output=True, text=True
            )
        assert "RUNNING" in status.stdout
        twistd = int(re.search(r"pid (\d+)", status.stdout).group(1))
        # user= applied (here the tests' own user)
        assert re.search(rf"^Uid:\t{me.pw_uid}\t", Path(f"/proc/{twistd}/status").read_text(), re.M)
        if hard >= 16384:
            soft = re.search(r"^Max open files\s+(\d+)", Path(f"/proc/{twistd}/limits").read_text(), re.M)
            assert int(soft.group(1)) >= 16384
        children = {
            int(p.name): (p / "cmdline").read_bytes()
            for p in Path("/proc").glob("[0-9]*")
            if (p / "status").exists() and f"PPid:\t{twistd}\n" in (p / "status").read_text()
        }
        node = [pid for pid, cmdline in children.items() if b"server.js" in cmdline]
        workers = [pid for pid, cmdline in children.items() if b"pypipin.worker" in cmdline]
        assert len(node) == 1 and len(workers) == len(os.sched_getaffinity(0))  # --workers auto
        stopped = await deferToThread(
            subprocess.run, [*ctl, "stop", "pypipin"], capture_output=True, text=True
        )
        assert "stopped" in stopped.stdout
        for pid in (twistd, *node, *workers):
            assert (
                not Path(f"/proc/{pid}").exists()
                or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
            )
        log = (ROOT / "var" / "log" / "pypipin.log").read_text()
        assert f"GET /v/demo/badge.svg?{marker}" in log
    finally:
        supervisord.terminate()
        await deferToThread(supervisord.wait, 30)


@pytest_twisted.ensureDeferred
async def test_two_daemons_on_one_redis_behind_varnish(
    upstream: FakeUpstream, redis: RedisServer, start_daemon, varnish
) -> None:
    upstream.add("burst")
    upstream.delay = 0.3
    first = await start_daemon(redis.url).drawing()
    second = await start_daemon(redis.url).drawing()  # else Varnish's first probe may find one sick
    front = await deferToThread(varnish, "varnish-cluster.vcl", {8881: first.port, 8882: second.port})
    urls = [
        f"{front}/{badge}/burst/badge.svg?style={style}"
        for badge in ("v", "wheel", "license", "status")
        for style in ("flat", "plastic", "social")
    ]
    answers = await defer.gatherResults([defer.ensureDeferred(get(url)) for url in urls * 3])
    assert {response.code for response, _ in answers} == {200}
    assert upstream.requests["/pypi/burst/json"] == 1
    served = [await get(daemon.url + "/metrics") for daemon in (first, second)]
    per_daemon = [
        sum(
            float(n)
            for n in re.findall(r'^pypipin_requests_total\{badge="[a-z_]+".*\} (\S+)$', body.decode(), re.M)
        )
        for _, body in served
    ]
    assert all(count > 0 for count in per_daemon), per_daemon  # both daemons took a share
    print(f"requests through Varnish: {len(urls) * 3}; reaching the daemons: {per_daemon}; PyPI calls: 1")
