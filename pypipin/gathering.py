"""/metrics of a daemon of N workers: each worker's own text, scraped over loopback and labelled
``worker="k"``, merged with the daemon's own (node's) samples, unlabelled."""
# mypy: untyped-calls-exclude=twisted
# (much of Twisted is not annotated: calls into it go unchecked, the rest of these modules is strict)

from collections.abc import Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from treq.client import HTTPClient
from twisted.internet import defer

from pypipin.metrics import Counters

SCRAPE_TIMEOUT = 1.0  # seconds a worker has to answer the daemon's scrape
RELAY_TIMEOUT = 2.0  # seconds the daemon has to answer a worker's relayed /metrics
OWN_PORT = "PYPIPIN_WORKER_METRICS_PORT"  # a worker's environment: the loopback port of its own /metrics
RELAY = "PYPIPIN_METRICS_RELAY"  # ... and the daemon's whole /metrics its --port relays ("": none)


class _Families(Collector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def merged(own: str, workers: Mapping[str, str]) -> bytes:
    """One text of the ``own`` samples as they are and each worker's (by its number) labelled
    ``worker="k"``: a family's samples together, under one HELP and TYPE."""
    families: dict[str, Metric] = {}
    for worker, text in [(None, own), *sorted(workers.items())]:
        for family in text_string_to_metric_families(text):
            found = families.setdefault(
                family.name, Metric(family.name, family.documentation, family.type, family.unit)
            )
            found.samples += [
                sample if worker is None else sample._replace(labels={**sample.labels, "worker": worker})
                for sample in family.samples
            ]
    collected = CollectorRegistry(auto_describe=False)
    collected.register(_Families(families.values()))
    return generate_latest(collected)


class Gathering(Collector):
    """The whole daemon's metrics: its ``own`` registry (this collector joins it: node's restarts from
    ``counters``, the scrapes left unanswered) and each worker's at ``urls`` (by worker number), all
    asked at once."""

    def __init__(
        self,
        http: HTTPClient,
        urls: Mapping[str, str],
        counters: Counters,
        own: CollectorRegistry,
        timeout: float = SCRAPE_TIMEOUT,
    ) -> None:
        self._http = http
        self._urls = dict(urls)
        self._counters = counters
        self._own = own
        self._timeout = timeout
        self.unanswered = 0
        own.register(self)

    def collect(self) -> Iterator[Metric]:
        yield self._counters.restarts()
        unanswered = CounterMetricFamily(
            "pypipin_worker_scrapes_unanswered", "Scrapes of a worker's metrics it did not answer in time"
        )
        unanswered.add_metric([], self.unanswered)
        yield unanswered

    async def text(self) -> bytes:
        """Every worker's text labelled, with the daemon's own; a worker that does not answer is left out."""
        answers = await defer.gatherResults(
            [defer.ensureDeferred(self._scrape(url)) for url in self._urls.values()]
        )
        texts = {worker: text for worker, text in zip(self._urls, answers, strict=True) if text is not None}
        self.unanswered += len(self._urls) - len(texts)
        return merged(generate_latest(self._own).decode(), texts)

    async def _scrape(self, url: str) -> str | None:
        try:
            response = await self._http.get(url, timeout=self._timeout)
            text: str = await response.text("utf-8")
        except Exception:
            return None
        return text if response.code == 200 else None


async def relayed(http: HTTPClient, url: str, timeout: float = RELAY_TIMEOUT) -> bytes:
    """The daemon's whole /metrics at ``url``, for a worker's --port to answer."""
    response = await http.get(url, timeout=timeout)
    body: bytes = await response.content()
    if response.code != 200:
        raise ValueError(f"HTTP {response.code}")
    return body
