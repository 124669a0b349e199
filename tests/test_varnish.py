"""conf/varnish.vcl: it compiles, and the real varnishd in front of the daemon caches badges."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet.threads import deferToThread

from conftest import get
from processes import ROOT, wait_for_port
from fakepypi import FakeUpstream
from pypipin.renderer import free_port

VARNISHD = shutil.which("varnishd") or "/usr/sbin/varnishd"


def vcl_for(backend_port: int) -> str:
    """conf/varnish.vcl with the backend port changed, in a file varnishd's own user can read."""
    folder = tempfile.mkdtemp(prefix="pypipin-varnish-")
    os.chmod(folder, 0o755)
    path = Path(folder, "pypipin.vcl")
    text = (ROOT / "conf" / "varnish.vcl").read_text()
    assert '.port = "8888";' in text
    path.write_text(text.replace('.port = "8888";', f'.port = "{backend_port}";'))
    path.chmod(0o644)
    return str(path)


@pytest.fixture
def varnish():
    if not os.path.exists(VARNISHD):
        pytest.skip("varnishd is not installed (.ci/run installs Debian's varnish)")
    started = []

    def start(backend_port: int) -> str:
        port = free_port()
        config = vcl_for(backend_port)
        process = subprocess.Popen(
            [VARNISHD, "-F", "-n", os.path.dirname(config) + "/work", "-a", f"127.0.0.1:{port}", "-f", config,
             "-s", "malloc,32m"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        started.append(process)
        wait_for_port(port)
        return f"http://127.0.0.1:{port}"

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def test_vcl_compiles() -> None:
    if not os.path.exists(VARNISHD):
        pytest.skip("varnishd is not installed (.ci/run installs Debian's varnish)")
    result = subprocess.run([VARNISHD, "-C", "-f", vcl_for(8888)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert 'resp.http.X-Cache = \\"HIT\\";' in result.stdout + result.stderr  # our VCL, compiled to C


@pytest_twisted.ensureDeferred
async def test_second_request_is_a_varnish_hit(upstream: FakeUpstream, start_daemon, varnish) -> None:
    upstream.add("demo")
    daemon = await start_daemon().ready()
    front = await deferToThread(varnish, daemon.port)
    first, body = await get(f"{front}/v/demo/badge.svg")
    second, again = await get(f"{front}/v/demo/badge.svg")
    assert (first.code, second.code) == (200, 200) and body == again
    assert first.headers.getRawHeaders(b"x-cache") == [b"MISS"]
    assert second.headers.getRawHeaders(b"x-cache") == [b"HIT"]
    assert upstream.requests["/pypi/demo/json"] == 1
