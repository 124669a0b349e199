"""Every count the service keeps, in one place, exported through prometheus_client."""

from bisect import bisect_left
from collections import Counter
from typing import Iterator

from ipaddress import IPv4Network, IPv6Network, ip_address

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource

# upper bounds of the latency histogram's buckets, in seconds
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Counters(Collector):
    """Plain counts (cheap enough for the hot path), turned into Prometheus metrics on demand.

    ``requests[badge, format, status]``: every HTTP request (badge ``-`` for other routes).
    ``latency``: a histogram of request durations over ``BUCKETS``.
    ``cache[layer, result]``: layer hot, images or store; result hit or miss.
    ``upstream[source, outcome]``: source pypi or stats; outcome ok, not_modified (a 304
    renewed the cached copy), not_found, error, rate_limited, stale (a stale copy served
    instead) or waited (held by our rate limit).
    ``renders[outcome]``: ok or error. ``renderer_restarts``: procmon restarts of node.
    ``last_ok[source]``: when (Unix time) that source last answered.
    """

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str, str]] = Counter()
        self.latency = [0] * (len(BUCKETS) + 1)
        self.latency_sum = 0.0
        self.cache: Counter[tuple[str, str]] = Counter()
        self.upstream: Counter[tuple[str, str]] = Counter()
        self.renders: Counter[str] = Counter()
        self.renderer_restarts = 0
        self.last_ok: dict[str, float] = {}

    def request(self, badge: str, fmt: str, status: int, seconds: float) -> None:
        self.requests[badge, fmt, str(status)] += 1
        self.latency[bisect_left(BUCKETS, seconds)] += 1
        self.latency_sum += seconds

    def collect(self) -> Iterator[Metric]:
        yield _counter("pypipin_requests", "HTTP requests by badge, format and status",
                       ["badge", "format", "status"], self.requests)
        cumulative, buckets = 0, []
        for bound, count in zip([*map(str, BUCKETS), "+Inf"], self.latency):
            cumulative += count
            buckets.append((bound, cumulative))
        yield HistogramMetricFamily("pypipin_request_duration_seconds", "Time to answer a request",
                                    buckets=buckets, sum_value=self.latency_sum)
        yield _counter("pypipin_cache_lookups", "Cache lookups by layer and result", ["layer", "result"], self.cache)
        yield _counter("pypipin_upstream", "Upstream calls and their outcomes", ["source", "outcome"], self.upstream)
        yield _counter("pypipin_renders", "Images drawn by the Node renderer", ["outcome"],
                       {(outcome,): count for outcome, count in self.renders.items()})
        restarts = CounterMetricFamily("pypipin_renderer_restarts", "Times procmon restarted the renderer")
        restarts.add_metric([], self.renderer_restarts)
        yield restarts
        last = GaugeMetricFamily("pypipin_upstream_last_success_seconds", "Unix time of the last upstream success",
                                 labels=["source"])
        for source, when in sorted(self.last_ok.items()):
            last.add_metric([source], when)
        yield last


def _counter(name: str, documentation: str, labels: list[str], counts: dict) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=labels)
    for key, count in sorted(counts.items()):
        family.add_metric(list(key), count)
    return family


def registry(*collectors: Collector) -> CollectorRegistry:
    """A registry of this service's own, holding ``collectors``."""
    found = CollectorRegistry(auto_describe=True)
    for collector in collectors:
        found.register(collector)
    return found


class MetricsPage(Resource):
    """``/metrics`` in Prometheus' text format, for clients in ``allowed`` networks (and Unix sockets) only."""

    isLeaf = True

    def __init__(self, collected: CollectorRegistry, allowed: tuple[IPv4Network | IPv6Network, ...]) -> None:
        super().__init__()
        self._registry = collected
        self._allowed = allowed

    def render_GET(self, request: IRequest) -> bytes:
        host = getattr(request.getClientAddress(), "host", None)
        if host is not None and not any(ip_address(host) in network for network in self._allowed):
            request.setResponseCode(403)
            request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
            return b"Metrics are not served to this address (see --metrics-allow).\n"
        request.setHeader(b"Content-Type", CONTENT_TYPE_LATEST.encode())
        request.setHeader(b"Cache-Control", b"no-store")
        return generate_latest(self._registry)
