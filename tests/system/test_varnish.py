"""conf/varnish*.vcl: they compile, and the real varnishd in front of the daemon caches badges."""

import os
import subprocess
from typing import Any

import pytest
import pytest_twisted
import treq
from twisted.internet import defer
from twisted.internet.threads import deferToThread

from tests.support.fakepypi import FakeUpstream
from tests.support.hostile import METRICS_TARGETS
from tests.support.loopback import get, get_from, raw_get_from, svg_text
from tests.support.processes import VARNISHD, vcl_for

pytestmark = pytest.mark.processes


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
    daemon = await start_daemon().drawing()  # healthy, and Varnish has seen it so: no synthetic badge
    front = await deferToThread(varnish, "varnish.vcl", {8888: daemon.port}, True)
    first, body = await get(f"{front}/v/demo/badge.svg")
    assert svg_text(body) == ["pypi", "v1.2.3"]
    second, again = await get(f"{front}/v/demo/badge.svg")
    assert (first.code, second.code) == (200, 200) and body == again
    assert first.headers.getRawHeaders(b"x-cache") == [b"MISS"]
    assert second.headers.getRawHeaders(b"x-cache") == [b"HIT"]
    assert upstream.requests["/pypi/demo/json"] == 1


BACKENDS = {"varnish.vcl": (8888,), "varnish-cluster.vcl": (8881, 8882)}


@pytest.mark.parametrize("vcl", sorted(BACKENDS))
@pytest_twisted.ensureDeferred
async def test_daemon_down_gives_an_unavailable_badge_never_html(
    upstream: FakeUpstream, start_daemon, varnish, vcl: str
) -> None:
    upstream.fault = "500"
    daemon = await start_daemon().drawing()
    _, drawn = await get(f"{daemon.url}/v/broken/badge.svg")  # what the daemon itself draws for this failure
    front = await deferToThread(varnish, vcl, {port: daemon.port for port in BACKENDS[vcl]})
    await deferToThread(daemon.stop)
    for url in ("/v/never-asked/badge.svg", "/pypi/wheel/other", "/d/third/badge.png"):
        response, body = await get(front + url)
        assert response.code == 200, (url, body[:200])
        assert response.headers.getRawHeaders(b"content-type") == [b"image/svg+xml;charset=utf-8"]
        assert response.headers.getRawHeaders(b"cache-control") == [b"max-age=10"]
        assert body == drawn and svg_text(body) == ["pypi", "unavailable"]
    response, body = await get(front + "/health")
    assert response.code == 503 and b"<svg" not in body


@pytest.mark.parametrize("vcl", sorted(BACKENDS))
@pytest_twisted.ensureDeferred
async def test_only_get_and_head_and_metrics_only_to_the_acl(
    upstream: FakeUpstream, start_daemon, varnish, vcl: str
) -> None:
    daemon = await start_daemon().drawing()  # node is up before Varnish's first probe
    front = await deferToThread(varnish, vcl, {port: daemon.port for port in BACKENDS[vcl]})
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH"):
        response = await treq.request(method, front + "/v/demo/badge.svg", data=b"x")
        await response.content()
        assert response.code == 405, method
        assert response.headers.getRawHeaders(b"allow") == [b"GET, HEAD"]
    response, body = await get(front + "/metrics")  # from 127.0.0.1: in the ACL
    assert response.code == 200 and b"pypipin_requests_total" in body
    response, body = await get_from("127.0.0.2", front + "/metrics")
    assert response.code == 403 and b"pypipin" not in body


@pytest.mark.parametrize("vcl", sorted(BACKENDS))
@pytest_twisted.ensureDeferred
async def test_no_variant_of_metrics_passes_varnish_to_a_client_outside_its_acl(
    upstream: FakeUpstream, start_daemon, varnish, vcl: str
) -> None:
    # the daemon lets all of loopback in, so Varnish's ACL alone keeps 127.0.0.2 out
    daemon = await start_daemon("none", "--metrics-allow", "127.0.0.0/8").drawing()
    front = await deferToThread(varnish, vcl, {port: daemon.port for port in BACKENDS[vcl]})
    for target in [variant.decode() for variant in METRICS_TARGETS]:
        code, body = await deferToThread(raw_get_from, "127.0.0.2", front, target)
        assert b"pypipin_" not in body and code in (400, 403, 404), (target, code, body[:200])
    for target in ("/metrics", "//metrics", "/%6detrics", "/%2fmetrics"):  # served to the ACL's client
        code, body = await deferToThread(raw_get_from, "127.0.0.1", front, target)
        assert code == 200 and b"pypipin_requests_total" in body, target
    code, _ = await deferToThread(raw_get_from, "127.0.0.2", front, "/health")
    assert code == 200  # the rest is served to everyone


ATTACKER, VICTIM = "127.0.0.2", "127.0.0.3"


def headers(response: Any, name: bytes) -> list[bytes] | None:
    return response.headers.getRawHeaders(name)


@pytest_twisted.ensureDeferred
async def test_an_attacker_over_budget_never_changes_what_another_client_sees(
    upstream: FakeUpstream, start_daemon, varnish
) -> None:
    upstream.add("treq")
    upstream.add("klein")
    daemon = await start_daemon("none", "--client-names", "3").drawing()
    front = await deferToThread(varnish, "varnish.vcl", {8888: daemon.port})
    for n in range(4):  # made-up names: 3 not-found answers, then the budget is spent
        response, body = await get_from(ATTACKER, f"{front}/v/made-up-{n}/badge.svg")
    assert svg_text(body) == ["pypipin", "rate limited"]
    for _ in range(2):  # a real name not cached costs an upstream call: refused, and never stored
        response, body = await get_from(ATTACKER, f"{front}/v/treq/badge.svg")
        assert svg_text(body) == ["pypipin", "rate limited"]
        assert headers(response, b"cache-control") == [b"private, no-store"]
        assert headers(response, b"x-cache") == [b"MISS"]
    response, body = await get_from(VICTIM, f"{front}/v/treq/badge.svg")
    assert svg_text(body) == ["pypi", "v1.2.3"] and headers(response, b"x-cache") == [b"MISS"]
    response, body = await get_from(ATTACKER, f"{front}/v/treq/badge.svg")  # cached now: it costs nothing
    assert svg_text(body) == ["pypi", "v1.2.3"] and headers(response, b"x-cache") == [b"HIT"]
    # the attacker's refused requests and the victim's, for one URL at once: each gets its own answer
    asked = [ATTACKER] * 6 + [VICTIM] + [ATTACKER] * 6
    answers = await defer.gatherResults(
        [defer.ensureDeferred(get_from(client, f"{front}/v/klein/badge.svg")) for client in asked]
    )
    assert svg_text(answers[6][1]) == ["pypi", "v1.2.3"]
    for client, (response, body) in zip(asked, answers, strict=True):
        refused = svg_text(body) == ["pypipin", "rate limited"]
        private = headers(response, b"cache-control") == [b"private, no-store"]
        assert not refused or (client == ATTACKER and private)
    response, body = await get_from(VICTIM, f"{front}/v/klein/badge.svg")
    assert svg_text(body) == ["pypi", "v1.2.3"] and headers(response, b"x-cache") == [b"HIT"]
    assert upstream.requests["/pypi/treq/json"] == upstream.requests["/pypi/klein/json"] == 1


@pytest_twisted.ensureDeferred
async def test_parameters_no_badge_reads_are_one_varnish_object(
    upstream: FakeUpstream, start_daemon, varnish
) -> None:
    upstream.add("demo")
    daemon = await start_daemon().drawing()
    front = await deferToThread(varnish, "varnish.vcl", {8888: daemon.port})
    plain, flat_square = f"{front}/v/demo/badge.svg", f"{front}/v/demo/badge.svg?style=flat-square"
    for url, cache in [
        (plain, b"MISS"),
        (plain + "?x=1", b"HIT"),
        (plain + "?utm_a=1&fbclid=2&", b"HIT"),
        (f"{plain}?x=1&style=flat-square", b"MISS"),
        (flat_square + "&y=2", b"HIT"),
        (f"{plain}?stylex=plastic&style=flat-square&label=a?b", b"MISS"),
        (f"{plain}?style=flat-square&x&label=a?b", b"HIT"),
        (f"{plain}?label=a?b&style=flat-square", b"MISS"),
    ]:  # Varnish does not sort them
        response, body = await get(url)
        assert headers(response, b"x-cache") == [cache], url
    assert svg_text(body) == ["a?b", "v1.2.3"]
    _, square = await get(flat_square)
    _, plain_body = await get(plain)
    assert square != plain_body  # the parameters a badge reads are kept
