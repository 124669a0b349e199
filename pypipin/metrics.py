"""Every count the service keeps, in one place, exported through prometheus_client."""

import platform
from bisect import bisect_left
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from ipaddress import ip_address, ip_network
from typing import TypeVar, cast

import twisted
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Info,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from twisted.internet import defer
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from pypipin import __version__
from pypipin.web.clients import Network, client_address

# upper bounds of the duration histograms' buckets, in seconds
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Histogram:
    """Counts of durations by bucket, and their sum: cheap to observe, exported on demand."""

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(BUCKETS, seconds)] += 1
        self.sum += seconds

    def buckets(self) -> list[tuple[str, int]]:
        cumulative, found = 0, []
        for bound, count in zip([*map(str, BUCKETS), "+Inf"], self.counts, strict=True):
            cumulative += count
            found.append((bound, cumulative))
        return found


class Counters(Collector):
    """Plain counts (cheap enough for the hot path), turned into Prometheus metrics on demand.

    ``requests[badge, format, status]``: every HTTP request (badge ``-`` for other routes).
    ``latency``: request durations; ``render_seconds``: renders; ``upstream_seconds[source]``:
    upstream calls, whatever their outcome.
    ``cache[layer, result]``: layer hot, images or store; result hit or miss.
    ``upstream[source, outcome]``: source pypi or stats; outcome ok, not_modified (a 304
    renewed the cached copy), not_found, error, rate_limited, stale (a stale copy served
    instead) or waited (held by our rate limit).
    ``renders[outcome]``: ok, error, or abandoned (its requests went away before its turn).
    ``renderer_restarts``: procmon restarts of node.
    ``over_budget[cost]``: requests refused for a client's names or renders budget, its share of an upstream
    gate (``upstream``) or the renders of all clients running low (``global renders``).
    ``refused[cap]``: connections closed over the per-``address`` or ``total`` cap.
    ``clickhouse[outcome]``: ClickHouse queries: ok, cut (rows cut short: asked again in halves), quota
    (ClickHouse's quota spent), error, or unsent (the fleet's budget spent, or a quota error's pause).
    ``last_ok[source]``: when (Unix time) that source last answered.
    """

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str, str]] = Counter()
        self.latency = Histogram()
        self.render_seconds = Histogram()
        self.upstream_seconds: dict[str, Histogram] = {}
        self.cache: Counter[tuple[str, str]] = Counter()
        self.upstream: Counter[tuple[str, str]] = Counter()
        self.renders: Counter[str] = Counter()
        self.renderer_restarts = 0
        self.over_budget: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.clickhouse: Counter[str] = Counter()
        self.last_ok: dict[str, float] = {}

    def request(self, badge: str, fmt: str, status: int, seconds: float) -> None:
        self.requests[badge, fmt, str(status)] += 1
        self.latency.observe(seconds)

    def upstream_took(self, source: str, seconds: float) -> None:
        self.upstream_seconds.setdefault(source, Histogram()).observe(seconds)

    def restarts(self) -> CounterMetricFamily:
        """Node's restarts: the one count a daemon of workers keeps itself."""
        family = CounterMetricFamily("pypipin_renderer_restarts", "Times procmon restarted the renderer")
        family.add_metric([], self.renderer_restarts)
        return family

    def collect(self) -> Iterator[Metric]:
        yield _counter(
            "pypipin_requests",
            "HTTP requests by badge, format and status",
            ["badge", "format", "status"],
            self.requests,
        )
        yield HistogramMetricFamily(
            "pypipin_request_duration_seconds",
            "Time to answer a request",
            buckets=self.latency.buckets(),
            sum_value=self.latency.sum,
        )
        yield HistogramMetricFamily(
            "pypipin_render_duration_seconds",
            "Time the Node renderer took for one image",
            buckets=self.render_seconds.buckets(),
            sum_value=self.render_seconds.sum,
        )
        upstream = HistogramMetricFamily(
            "pypipin_upstream_duration_seconds", "Time of one upstream call, by source", labels=["source"]
        )
        for source, histogram in sorted(self.upstream_seconds.items()):
            upstream.add_metric([source], histogram.buckets(), histogram.sum)
        yield upstream
        yield _counter(
            "pypipin_cache_lookups", "Cache lookups by layer and result", ["layer", "result"], self.cache
        )
        yield _counter(
            "pypipin_upstream", "Upstream calls and their outcomes", ["source", "outcome"], self.upstream
        )
        yield _counter(
            "pypipin_renders",
            "Images drawn by the Node renderer",
            ["outcome"],
            {(outcome,): count for outcome, count in self.renders.items()},
        )
        yield _counter(
            "pypipin_over_budget",
            "Requests answered 'rate limited' because their client spent its budget",
            ["cost"],
            {(cost,): count for cost, count in self.over_budget.items()},
        )
        yield _counter(
            "pypipin_connections_refused",
            "Connections closed at once, over a connection cap",
            ["cap"],
            {(cap,): count for cap, count in self.refused.items()},
        )
        yield _counter(
            "pypipin_clickhouse_queries",
            "ClickHouse queries for download counts, by outcome",
            ["outcome"],
            {(outcome,): count for outcome, count in self.clickhouse.items()},
        )
        yield self.restarts()
        last = GaugeMetricFamily(
            "pypipin_upstream_last_success_seconds",
            "Unix time of the last upstream success",
            labels=["source"],
        )
        for source, when in sorted(self.last_ok.items()):
            last.add_metric([source], when)
        yield last


_Labels = TypeVar("_Labels", bound=tuple[str, ...])


def _counter(
    name: str, documentation: str, labels: list[str], counts: Mapping[_Labels, int]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=labels)
    for key, count in sorted(counts.items()):
        family.add_metric(list(key), count)
    return family


class Readings(Collector):
    """Gauges read from the live service when scraped: ``name -> (help, labels, read)``.

    ``read`` returns the value, or for labelled gauges a dict of label values to values.
    """

    def __init__(
        self, gauges: dict[str, tuple[str, list[str], Callable[[], float | dict[tuple[str, ...], float]]]]
    ):
        self._gauges = gauges

    def describe(self) -> Iterator[Metric]:
        """The gauges without reading them (the registry asks before the service is complete)."""
        for name, (documentation, labels, _) in self._gauges.items():
            yield GaugeMetricFamily(name, documentation, labels=labels)

    def collect(self) -> Iterator[Metric]:
        for name, (documentation, labels, read) in self._gauges.items():
            family = GaugeMetricFamily(name, documentation, labels=labels)
            value = read()
            for key, number in value.items() if isinstance(value, dict) else [((), value)]:
                family.add_metric(list(key), number)
            yield family


def registry(*collectors: Collector) -> CollectorRegistry:
    """A registry of this service's own: ``collectors``, the process and Python collectors, build info."""
    found = CollectorRegistry(auto_describe=True)
    for collector in (*collectors, PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        found.register(collector)
    Info("pypipin_build", "The running pypipin", registry=found).info(
        {"version": __version__, "python": platform.python_version(), "twisted": twisted.__version__}
    )
    return found


LOOPBACK = (ip_network("127.0.0.0/8"), ip_network("::1/128"))  # a worker's own /metrics, for the daemon


class MetricsPage(Resource):
    """``/metrics`` in Prometheus' text format, for clients in ``allowed`` networks (and Unix sockets) only.

    The client is the one the budgets count (``limits.client_address``): behind a proxy in
    ``trusted``, the address its ``X-Forwarded-For`` names, never the proxy's own. The text is
    ``collected``'s, or what ``text`` gives (a daemon of workers gathers theirs).
    """

    isLeaf = True

    def __init__(
        self,
        collected: CollectorRegistry,
        allowed: tuple[Network, ...],
        trusted: tuple[Network, ...] = (),
        text: Callable[[], Awaitable[bytes]] | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Resource.__init__ has no hints
        self._registry = collected
        self._text = text
        self._allowed = allowed
        self._trusted = trusted

    def allows(self, request: IRequest) -> bool:
        """Whether ``request`` comes from a Unix socket or, through trusted proxies, an allowed network."""
        peer = request.getClientAddress()
        if getattr(peer, "host", None) is None:
            return True
        client = client_address(peer.host, request.getHeader(b"X-Forwarded-For"), self._trusted)
        try:
            host = ip_address(client)
        except ValueError:
            return False
        host = getattr(host, "ipv4_mapped", None) or host  # ::ffff:127.0.0.1 on a dual-stack listener
        return any(host in network for network in self._allowed)

    def render_GET(self, request: IRequest) -> bytes | int:
        if not self.allows(request):
            request.setResponseCode(403)
            request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
            request.setHeader(b"Cache-Control", b"no-store")
            return b"Metrics are not served to this address (see --metrics-allow).\n"
        request.setHeader(b"Content-Type", CONTENT_TYPE_LATEST.encode())
        request.setHeader(b"Cache-Control", b"no-store")
        if self._text is None:
            return generate_latest(self._registry)
        gone: list[Failure] = []
        cast(Request, request).notifyFinish().addErrback(gone.append)
        defer.ensureDeferred(self._send(request, self._text(), gone))
        return NOT_DONE_YET

    async def _send(self, request: IRequest, text: Awaitable[bytes], gone: list[Failure]) -> None:
        try:
            body = await text
        except Exception as error:
            request.setResponseCode(503)
            request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
            body = f"The daemon's metrics did not answer ({error.__class__.__name__}).\n".encode()
        if not gone:  # the client may have left while the text was gathered
            request.setHeader(b"Content-Length", str(len(body)).encode())
            request.write(body)
            request.finish()
