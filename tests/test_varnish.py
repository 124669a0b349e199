"""conf/varnish*.vcl: they compile, and the real varnishd in front of the daemon caches badges."""

import os
import subprocess

import pytest
import pytest_twisted
from twisted.internet.threads import deferToThread

from conftest import get
from fakepypi import FakeUpstream
from processes import VARNISHD, vcl_for

@pytest.mark.parametrize("name", ["varnish.vcl", "varnish-cluster.vcl"])
def test_vcl_compiles(name: str) -> None:
    if not os.path.exists(VARNISHD):
        pytest.skip("varnishd is not installed (.ci/run installs Debian's varnish)")
    result = subprocess.run([VARNISHD, "-C", "-f", vcl_for(name, {})], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert 'resp.http.X-Cache = \\"HIT\\";' in result.stdout + result.stderr  # our VCL, compiled to C


@pytest_twisted.ensureDeferred
async def test_second_request_is_a_varnish_hit(upstream: FakeUpstream, start_daemon, varnish) -> None:
    upstream.add("demo")
    daemon = await start_daemon().ready()
    front = await deferToThread(varnish, "varnish.vcl", {8888: daemon.port})
    first, body = await get(f"{front}/v/demo/badge.svg")
    second, again = await get(f"{front}/v/demo/badge.svg")
    assert (first.code, second.code) == (200, 200) and body == again
    assert first.headers.getRawHeaders(b"x-cache") == [b"MISS"]
    assert second.headers.getRawHeaders(b"x-cache") == [b"HIT"]
    assert upstream.requests["/pypi/demo/json"] == 1
