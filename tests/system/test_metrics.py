"""/metrics as Prometheus scrapes it from a real daemon (its text format, its ACL and its own port), and the
shipped Grafana dashboard."""

import json
import re

import pytest
import pytest_twisted
from prometheus_client.parser import text_string_to_metric_families

from pypipin import __version__
from pypipin.renderer.process import free_port
from tests.support.fakepypi import FakeUpstream
from tests.support.loopback import get, get_from
from tests.support.processes import ROOT, RedisServer

pytestmark = pytest.mark.processes

DASHBOARD = ROOT / "conf" / "grafana-dashboard.json"


async def scraped(upstream: FakeUpstream, redis: RedisServer, start_daemon) -> dict[str, list]:
    """Sample name -> [(labels, value)] of a daemon that has served, fetched from both sources and drawn
    (its ClickHouse refuses connections: pypistats answers the downloads badge)."""
    upstream.add("demo")
    down = f"http://127.0.0.1:{free_port()}/?user=demo"
    daemon = await start_daemon(
        redis.url, "--downloads-source", "clickhouse,pypistats", "--clickhouse-url", down
    ).drawing()
    for url in ("/v/demo/badge.svg", "/v/demo/badge.svg", "/d/demo/badge.png", "/wheel/demo/badge.svg"):
        assert (await get(daemon.url + url))[0].code == 200
    _, body = await get(daemon.url + "/metrics")
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


@pytest_twisted.ensureDeferred
async def test_what_an_on_call_person_needs(upstream: FakeUpstream, redis: RedisServer, start_daemon) -> None:
    samples = await scraped(upstream, redis, start_daemon)
    for name in (
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
        "python_info",
        "python_gc_collections_total",
    ):
        assert name in samples, name
    ((labels, value),) = samples["pypipin_build_info"]
    assert labels["version"] == __version__ and value == 1
    assert samples["pypipin_redis_up"] == [({}, 1.0)] and samples["pypipin_renderer_up"] == [({}, 1.0)]
    assert samples["pypipin_requests_in_flight"] == [({}, 1.0)]  # this scrape itself
    queries = {labels["outcome"] for labels, value in samples["pypipin_clickhouse_queries_total"] if value}
    assert queries == {"error"}  # the latest day's and the batch's queries, refused
    renders = dict(
        (labels["le"], value) for labels, value in samples["pypipin_render_duration_seconds_bucket"]
    )
    assert renders["+Inf"] == 3  # the version, downloads and wheel images
    upstream_calls = {
        (labels["source"], labels["le"]): value
        for labels, value in samples["pypipin_upstream_duration_seconds_bucket"]
    }
    assert upstream_calls["pypi", "+Inf"] == 1 and upstream_calls["stats", "+Inf"] == 1
    entries = {labels["cache"]: value for labels, value in samples["pypipin_cache_entries"]}
    sizes = {labels["cache"]: value for labels, value in samples["pypipin_cache_bytes"]}
    assert entries == {"hot": 3, "images": 3}
    assert sizes["images"] > 3 * 500 and sizes["hot"] > sizes["images"]  # a hot entry holds headers too


def test_dashboard_is_grafana_json_with_a_query_per_panel() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] == "pypipin" and len(dashboard["panels"]) >= 15
    assert all(
        panel["targets"] and all(target["expr"] for target in panel["targets"])
        for panel in dashboard["panels"]
    )


@pytest_twisted.ensureDeferred
async def test_every_metric_the_dashboard_queries_exists(
    upstream: FakeUpstream, redis: RedisServer, start_daemon
) -> None:
    samples = await scraped(upstream, redis, start_daemon)
    dashboard = json.loads(DASHBOARD.read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\b(?:pypipin|process|python)_[a-z_]+\b", target["expr"])
    }
    assert len(queried) >= 15
    missing = sorted(queried - set(samples))
    assert not missing, missing


@pytest_twisted.ensureDeferred
async def test_metrics_in_prometheus_text_format(upstream: FakeUpstream, start_daemon) -> None:
    upstream.add("demo")
    daemon = await start_daemon().ready()
    for _ in range(3):
        await get(f"{daemon.url}/wheel/demo/badge.svg")
    await get(f"{daemon.url}/v/demo/badge.png")
    await get(f"{daemon.url}/nope")
    _, body = await get(daemon.url + "/metrics")
    text = body.decode()
    assert 'pypipin_requests_total{badge="wheel",format="svg",status="200"} 3.0' in text
    assert 'pypipin_requests_total{badge="version",format="png",status="200"} 1.0' in text
    assert 'pypipin_requests_total{badge="-",format="-",status="404"} 1.0' in text
    assert 'pypipin_cache_lookups_total{layer="hot",result="hit"} 2.0' in text
    assert 'pypipin_upstream_total{outcome="ok",source="pypi"} 1.0' in text
    assert 'pypipin_renders_total{outcome="ok"} 2.0' in text
    assert "pypipin_renderer_restarts_total 0.0" in text
    count = re.search(r"^pypipin_request_duration_seconds_count (\S+)$", text, re.M)
    assert count and float(count.group(1)) == 5
    assert re.search(r'^pypipin_request_duration_seconds_bucket\{le="\+Inf"\} 5\.0$', text, re.M)


@pytest_twisted.ensureDeferred
async def test_metrics_only_to_allowed_networks_or_on_their_own_port(start_daemon) -> None:
    default = await start_daemon().ready()
    assert (await get(default.url + "/metrics"))[0].code == 200
    response, body = await get_from("127.0.0.2", default.url + "/metrics")  # loopback, but not 127.0.0.1
    assert response.code == 403 and b"--metrics-allow" in body and b"pypipin_" not in body
    port = free_port()
    moved = await start_daemon(
        "none", "--metrics-port", f"tcp:{port}:interface=127.0.0.1", "--metrics-allow", "127.0.0.2/32"
    ).ready()
    response, body = await get(moved.url + "/metrics")
    assert response.code == 404 and b"pypipin_" not in body
    response, body = await get_from("127.0.0.2", f"http://127.0.0.1:{port}/metrics")
    assert response.code == 200 and b"pypipin_requests_total" in body
    assert (await get(f"http://127.0.0.1:{port}/metrics"))[0].code == 403
