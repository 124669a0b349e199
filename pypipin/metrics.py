"""Every count the service keeps, in one place, exported through prometheus_client."""

from collections import Counter
from typing import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector


class Counters(Collector):
    """Plain integer counts (cheap enough for the hot path), collected for /metrics on demand.

    ``cache[layer, result]``: layer is hot, images, store, summary, result hit or miss.
    ``upstream[source, outcome]``: source is pypi or stats; outcome ok, not_found, error,
    rate_limited, stale (a stale copy served instead), waited (a rate-limit wait).
    ``renders[outcome]``: outcome ok or error.
    ``last_ok[source]``: when (Unix time) that source last answered.
    """

    def __init__(self) -> None:
        self.last_ok: dict[str, float] = {}
        self.cache: Counter[tuple[str, str]] = Counter()
        self.upstream: Counter[tuple[str, str]] = Counter()
        self.renders: Counter[str] = Counter()

    def collect(self) -> Iterator[Metric]:
        cache = CounterMetricFamily("pypipin_cache_lookups", "Cache lookups by layer and result", labels=["layer", "result"])
        for (layer, result), count in sorted(self.cache.items()):
            cache.add_metric([layer, result], count)
        upstream = CounterMetricFamily("pypipin_upstream", "Upstream calls and their outcomes", labels=["source", "outcome"])
        for (source, outcome), count in sorted(self.upstream.items()):
            upstream.add_metric([source, outcome], count)
        renders = CounterMetricFamily("pypipin_renders", "Images drawn by the Node renderer", labels=["outcome"])
        for outcome, count in sorted(self.renders.items()):
            renders.add_metric([outcome], count)
        yield from (cache, upstream, renders)


def registry(*collectors: Collector) -> CollectorRegistry:
    """A registry of this service's own, holding ``collectors``."""
    found = CollectorRegistry(auto_describe=True)
    for collector in collectors:
        found.register(collector)
    return found
