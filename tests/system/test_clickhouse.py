"""Download counts from a real ClickHouse engine (chdb) behind ClickPy's HTTP interface, pypistats second."""

import datetime
import json
from collections.abc import Iterator

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.web.server import Site

from pypipin import command
from pypipin.badges.rules import metric
from pypipin.data.keys import downloads
from pypipin.options import Options
from pypipin.renderer.provision import NotReady
from pypipin.settings import Settings
from tests.support.clickhouse import Dataset, FakeClickHouse
from tests.support.fakepypi import FakeUpstream
from tests.support.loopback import get, sleep

pytestmark = pytest.mark.processes

LAST = datetime.date(2026, 11, 30)
NAMES = [f"pkg{n}" for n in range(40)]


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    data = Dataset()
    data.fill(NAMES, LAST, days=400)
    return data


@pytest.fixture
def clickhouse(dataset: Dataset) -> Iterator[FakeClickHouse]:
    fake = FakeClickHouse(dataset)
    port = reactor.listenTCP(0, Site(fake), interface="127.0.0.1")
    fake.url = f"http://127.0.0.1:{port.getHost().port}/?user=demo"  # type: ignore[attr-defined]
    yield fake
    fake.release_hung()
    pytest_twisted.blockon(port.stopListening())


def options(*argv: str) -> Options:
    parsed = Options()
    parsed.parseOptions(list(argv))
    return parsed


def start(start_daemon, clickhouse: FakeClickHouse, redis_url: str = "none", *extra: str):
    return start_daemon(
        redis_url,
        "--downloads-source",
        "clickhouse,pypistats",
        "--clickhouse-url",
        clickhouse.url,  # type: ignore[attr-defined]
        *extra,
    )


async def shown(url: str) -> str:
    response, body = await get(url)
    assert response.code == 200, url
    return json.loads(body)["message"]


@pytest_twisted.ensureDeferred
async def test_counts_are_pypistats_periods_without_mirrors_and_a_burst_shares_one_query(
    upstream: FakeUpstream, clickhouse: FakeClickHouse, dataset: Dataset, start_daemon
) -> None:
    daemon = await start(start_daemon, clickhouse).ready()
    await sleep(1.0)  # the first check for the latest day
    checks = clickhouse.queries
    names = NAMES[:20]
    answers = await defer.gatherResults(
        [
            defer.ensureDeferred(shown(f"{daemon.url}/pypi/{kind}/{name}.json"))
            for name in names
            for kind in ("dm", "dt")
        ]
    )
    expected = [
        text
        for name in names
        for text in (
            f"{metric(dataset.expected(name)['month'])}/month",
            metric(dataset.expected(name)["total"]),
        )
    ]
    assert answers == expected
    assert clickhouse.queries - checks == 1  # 20 new names, 40 requests: one batch
    assert set(clickhouse.asked) == set(names)
    day, week = (
        await shown(f"{daemon.url}/pypi/dd/pkg3.json"),
        await shown(f"{daemon.url}/d/pkg3/badge.json?period=week"),
    )
    assert (day, week) == (
        f"{metric(dataset.expected('pkg3')['day'])}/day",
        f"{metric(dataset.expected('pkg3')['week'])}/week",
    )
    assert clickhouse.queries - checks == 1  # kept: no query more
    assert upstream.total("/api") == 0  # pypistats never asked
    _, scraped = await get(daemon.url + "/metrics")
    assert b'pypipin_clickhouse_queries_total{outcome="ok"} 2.0' in scraped  # the latest day, the batch


@pytest.mark.parametrize("fault", ["refused", "500", "exception", "quota", "garbage", "stall"])
@pytest_twisted.ensureDeferred
async def test_clickhouse_down_pypistats_answers_then_what_was_kept(
    fault: str, upstream: FakeUpstream, clickhouse: FakeClickHouse, dataset: Dataset, start_daemon
) -> None:
    upstream.add("pkg1", month=4321)
    upstream.add("pkg2", month=1234)
    daemon = await start(start_daemon, clickhouse, "none", "--stats-ttl", "1").ready()
    kept = await shown(f"{daemon.url}/pypi/dm/pkg1.json")
    assert kept == f"{metric(dataset.expected('pkg1')['month'])}/month"
    if fault == "refused":
        clickhouse.url = "http://127.0.0.1:1/?user=demo"  # type: ignore[attr-defined]
    clickhouse.fault = None if fault == "refused" else fault
    if fault == "refused":
        daemon.stop()
        daemon = await start(start_daemon, clickhouse, "none").ready()
        kept = None
    for _ in range(3):
        response, body = await get(f"{daemon.url}/pypi/dm/pkg2.json")
        assert response.code == 200
        assert json.loads(body)["message"] == "1.2k/month"  # pypistats, as ClickHouse fails
        assert json.loads(body)["message"] != "rate limited"
    if kept is not None:
        assert await shown(f"{daemon.url}/pypi/dm/pkg1.json") == kept  # nothing kept lost
    assert await shown(f"{daemon.url}/pypi/dt/pkg2.json") == "unavailable"  # pypistats has no total


@pytest_twisted.ensureDeferred
async def test_more_names_than_rows_a_result_are_split_when_cut(
    upstream: FakeUpstream, clickhouse: FakeClickHouse, dataset: Dataset, start_daemon, monkeypatch
) -> None:
    import tests.support.clickhouse as double

    monkeypatch.setattr(double, "MAX_ROWS", 8)  # a cut at 8 rows: a batch of 20 names comes back short
    daemon = await start(start_daemon, clickhouse).ready()
    await sleep(1.0)
    checks = clickhouse.queries
    names = NAMES[20:40]
    answers = await defer.gatherResults(
        [defer.ensureDeferred(shown(f"{daemon.url}/pypi/dm/{name}.json")) for name in names]
    )
    assert answers == [f"{metric(dataset.expected(name)['month'])}/month" for name in names]
    assert 3 <= clickhouse.queries - checks <= 7  # 20, then halves until each fits in 8 rows


@pytest_twisted.ensureDeferred
async def test_daemons_on_one_redis_share_one_batch_and_one_refresh_when_the_day_moves(
    upstream: FakeUpstream, clickhouse: FakeClickHouse, dataset: Dataset, redis, start_daemon
) -> None:
    daemons = [await start(start_daemon, clickhouse, redis.url).ready() for _ in range(2)]
    await sleep(1.0)
    checks = clickhouse.queries
    assert checks == 1  # the fleet's start asks for the latest day once
    names = NAMES[:30]

    async def answers(urls: list[str]) -> list[str]:
        return await defer.gatherResults([defer.ensureDeferred(shown(url)) for url in urls])

    def expected() -> list[str]:
        return [f"{metric(dataset.expected(name)['month'])}/month" for name in names]

    urls = [f"{daemons[n % 2].url}/pypi/dm/{name}.json" for n, name in enumerate(names)]
    assert await answers(urls) == expected()
    # 4 processes (2 workers each), their windows not aligned: a batch, or two when the burst spans turns
    assert clickhouse.queries - checks <= 2
    dataset.day(LAST + datetime.timedelta(days=1), NAMES)
    redis.command("DEL", downloads(":checked"))  # as if the hour were over
    before = clickhouse.queries
    third = await start(start_daemon, clickhouse, redis.url).ready()  # its start is the hourly check
    await sleep(2.0)
    assert clickhouse.queries - before == 2  # the latest day, then the 30 names asked for in one batch
    assert await answers([f"{third.url}/pypi/dm/{name}.json" for name in names]) == expected()


@pytest_twisted.ensureDeferred
async def test_check_says_the_latest_day_or_why_not(clickhouse: FakeClickHouse, dataset: Dataset) -> None:
    url = clickhouse.url  # type: ignore[attr-defined]
    here = url.partition("?")[0]
    settings = Settings.from_options(options("--clickhouse-url", url + "&password=secret"))
    assert await command.clickhouse(reactor, settings) == f"{here} answers: data up to {dataset.last}"
    clickhouse.fault = "500"
    with pytest.raises(NotReady, match="MEMORY_LIMIT_EXCEEDED") as failed:
        await command.clickhouse(reactor, settings)
    assert str(failed.value).startswith(f"{here}: ClickHouse: HTTP 500: Code: 241.")
    assert "secret" not in str(failed.value)
