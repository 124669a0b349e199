"""conf/haproxy.cfg: it is valid, and the real haproxy in front of the daemon lets no variant of /metrics
through."""

import os
import subprocess

import pytest
import pytest_twisted
from twisted.internet.threads import deferToThread

from tests.support.fakepypi import FakeUpstream
from tests.support.hostile import METRICS_TARGETS
from tests.support.loopback import raw_get_from, svg_text
from tests.support.processes import HAPROXY, ROOT, HAProxy


def test_haproxy_example_is_valid() -> None:
    if not os.path.exists(HAPROXY):
        pytest.skip("haproxy is not installed (.ci/run installs Debian's haproxy)")
    result = subprocess.run(
        [HAPROXY, "-c", "-f", str(ROOT / "conf" / "haproxy.cfg")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest_twisted.ensureDeferred
async def test_no_variant_of_metrics_passes_haproxy_to_a_client_outside_its_acl(
    upstream: FakeUpstream, start_daemon
) -> None:
    if not os.path.exists(HAPROXY):
        pytest.skip("haproxy is not installed (.ci/run installs Debian's haproxy)")
    upstream.add("demo")
    # the daemon lets all of loopback in, so haproxy's ACL alone keeps 127.0.0.2 out
    daemon = await start_daemon("none", "--metrics-allow", "127.0.0.0/8").drawing()
    front = await deferToThread(HAProxy, daemon.port)
    try:
        for target in [variant.decode() for variant in METRICS_TARGETS]:
            code, body = await deferToThread(raw_get_from, "127.0.0.2", front.url, target)
            assert b"pypipin_" not in body and code in (400, 403, 404), (target, code, body[:200])
        for target in ("/metrics", "//metrics", "/%6detrics", "/%2fmetrics"):  # served to the ACL's client
            code, body = await deferToThread(raw_get_from, "127.0.0.1", front.url, target)
            assert code == 200 and b"pypipin_requests_total" in body, target
        code, body = await deferToThread(raw_get_from, "127.0.0.2", front.url, "/v/demo/badge.svg")
        assert code == 200 and svg_text(body) == ["pypi", "v1.2.3"]  # badges are for everyone
    finally:
        await deferToThread(front.stop)
