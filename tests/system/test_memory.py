"""Memory bounds: every in-process cache is bounded, so 100,000 distinct names cannot grow RSS."""

import http.client
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.processes import Daemon, FakeUpstreamProcess, rss_mib, wait_for_port


def drive(port: int, names: range, tag: str, connections: int = 8) -> None:
    """GET /v/<distinct name>/badge.svg for every number in ``names``, over keep-alive connections."""

    def worker(offset: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for number in names[offset::connections]:
            connection.request("GET", f"/v/name-{tag}-{number}/badge.svg")
            response = connection.getresponse()
            response.read()
            assert response.status == 200, response.status
        connection.close()

    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(worker, range(connections)))


@pytest.mark.processes
def test_100k_distinct_names_stay_within_the_cache_bounds() -> None:
    upstream = FakeUpstreamProcess(0)  # every name is unknown upstream: a 404 to cache for each
    # budgets out of the way: every name must reach upstream here (system/test_floods.py tests the budgets)
    daemon = Daemon(
        upstream.url,
        "none",
        "--cache-entries",
        "2000",
        "--cache-mb",
        "4",
        "--access-log",
        "none",
        "--client-names",
        "1000000",
        "--pypi-rate",
        "1000000",
    )
    try:
        wait_for_port(daemon.port)
        drive(daemon.port, range(10_000), "warm")  # fills every cache to its bound
        warm = rss_mib(daemon.process.pid)
        drive(daemon.port, range(90_000), "more")
        end = rss_mib(daemon.process.pid)
        calls = sum(count for path, count in upstream.requests().items() if path.startswith("/pypi/"))
    finally:
        daemon.stop()
        upstream.stop()
    assert calls == 100_000  # each name really was new
    assert end - warm < 15, (warm, end)
    print(f"RSS after 10,000 names: {warm:.1f} MiB; after 100,000: {end:.1f} MiB")
