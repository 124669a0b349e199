"""pypipin.gathering in memory: the workers' metrics labelled and merged with the daemon's own, a worker
that does not answer left out and counted, and /metrics' ACL in front of the gathered text."""

from typing import Any, cast

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from treq.client import HTTPClient
from treq.testing import StubTreq
from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.web.resource import Resource
from twisted.web.server import Site

from pypipin.gathering import Gathering, merged, relayed
from pypipin.metrics import LOOPBACK, Counters, MetricsPage


def worker_text(requests: dict[str, int]) -> str:
    """What one worker's registry says after ``requests`` (by badge)."""
    collected = CollectorRegistry()
    counter = Counter("pypipin_requests", "HTTP requests by badge", ["badge"], registry=collected)
    for badge, count in requests.items():
        counter.labels(badge).inc(count)
    return generate_latest(collected).decode()


def own_text() -> str:
    collected = CollectorRegistry()
    Gauge("pypipin_renderer_up", "1 while node runs", registry=collected).set(1)
    Counter("pypipin_requests", "HTTP requests by badge", ["badge"], registry=collected)
    return generate_latest(collected).decode()


def samples(text: bytes) -> list[tuple[str, dict[str, str], float]]:
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
    ]


def test_each_workers_samples_are_labelled_and_the_daemons_own_are_not() -> None:
    text = merged(own_text(), {"0": worker_text({"v": 3, "d": 1}), "1": worker_text({"v": 2})})
    found = samples(text)
    requests = {
        (labels["worker"], labels["badge"]): value
        for name, labels, value in found
        if name == "pypipin_requests_total"
    }
    assert requests == {("0", "v"): 3, ("0", "d"): 1, ("1", "v"): 2}
    assert ("pypipin_renderer_up", {}, 1.0) in found
    assert sum(requests.values()) == 6


def test_a_family_has_one_help_and_one_type() -> None:
    lines = merged(own_text(), {"0": worker_text({"v": 1}), "1": worker_text({"v": 1})}).decode().splitlines()
    assert lines.count("# TYPE pypipin_requests_total counter") == 1
    assert len([line for line in lines if line.startswith("# HELP pypipin_requests_total ")]) == 1
    assert len([line for line in lines if line.startswith("pypipin_requests_total{")]) == 2


class Scraped(Resource):
    """Worker 0 answers its metrics; worker 1 answers 500."""

    isLeaf = True

    def render_GET(self, request: Any) -> bytes:
        if request.path == b"/0/metrics":
            return worker_text({"v": 4}).encode()
        request.setResponseCode(500)
        return b"broken"


def answered(outcome: Any, http: StubTreq) -> Any:
    found: list[Any] = []
    defer.ensureDeferred(outcome).addBoth(found.append)
    http.flush()
    assert found, "no answer"
    return found[0]


def gathering() -> tuple[Gathering, StubTreq, Counters]:
    http, counters = StubTreq(Scraped()), Counters()
    counters.renderer_restarts = 2
    urls = {"0": "http://127.0.0.1:1/0/metrics", "1": "http://127.0.0.1:2/1/metrics"}
    return Gathering(cast(HTTPClient, http), urls, counters, CollectorRegistry()), http, counters


def test_a_worker_that_does_not_answer_is_left_out_and_counted() -> None:
    gathered, http, _ = gathering()
    for scrape in (1, 2):
        found = samples(answered(gathered.text(), http))
        workers = {labels["worker"] for name, labels, _ in found if name == "pypipin_requests_total"}
        assert workers == {"0"}
        assert ("pypipin_worker_scrapes_unanswered_total", {}, float(scrape)) in found
        assert ("pypipin_renderer_restarts_total", {}, 2.0) in found


def test_relayed_is_the_daemons_text_or_an_error() -> None:
    http = StubTreq(Scraped())
    assert b"worker" not in answered(relayed(cast(HTTPClient, http), "http://127.0.0.1:1/0/metrics"), http)
    failure = answered(relayed(cast(HTTPClient, http), "http://127.0.0.1:1/1/metrics"), http)
    assert failure.check(ValueError) and "HTTP 500" in failure.getErrorMessage()


def served(page: MetricsPage, peer: str) -> bytes:
    """What ``page`` sends a GET from ``peer``."""
    transport = StringTransport(peerAddress=IPv4Address("TCP", peer, 40000))
    channel = Site(page).buildProtocol(None)
    channel.makeConnection(transport)
    channel.dataReceived(b"GET /metrics HTTP/1.1\r\nHost: badges.test\r\nConnection: close\r\n\r\n")
    return transport.value()


def test_the_gathered_text_is_behind_the_acl_and_a_failure_is_a_503() -> None:
    asked: list[bool] = []

    async def text() -> bytes:
        asked.append(True)
        return b"pypipin_x 1\n"

    async def broken() -> bytes:
        raise ValueError("HTTP 500")

    page = MetricsPage(CollectorRegistry(), LOOPBACK, (), text)
    refused = served(page, "203.0.113.9")
    assert refused.startswith(b"HTTP/1.1 403") and not asked
    sent = served(page, "127.0.0.1")
    assert sent.startswith(b"HTTP/1.1 200") and sent.endswith(b"pypipin_x 1\n") and asked
    failed = served(MetricsPage(CollectorRegistry(), LOOPBACK, (), broken), "127.0.0.1")
    assert failed.startswith(b"HTTP/1.1 503") and b"ValueError" in failed
