"""The upstream client: its errors and deadline in memory (treq.testing.StubTreq over the fake PyPI, on
a task.Clock); fetching less (gzip with a cap on what it decodes to, revalidation with the upstream's
validators) against the fake PyPI over loopback in this process, with ``Packages`` on a fake clock over
an in-process store.
"""

import json
from typing import Any

import pytest
import pytest_twisted
from treq.testing import StubTreq
from twisted.internet import defer, reactor, task

from pypipin.data.packages import Packages
from pypipin.limits.bucket import Gate
from pypipin.metrics import Counters
from pypipin.store.lru import LRU
from pypipin.store.memory import MemoryStore
from pypipin.upstream.client import (
    NotFound,
    RateLimited,
    TooLarge,
    Unavailable,
    Upstream,
    connect,
    retry_after,
)
from pypipin.upstream.indexes import configured
from tests.support.fakepypi import FakeUpstream, big_document


def client(fake: FakeUpstream, max_mb: int = 20) -> Upstream:
    """The daemon's client (asking for gzip) to the fake over loopback."""
    http, _ = connect(reactor, 5.0)
    return Upstream(
        reactor, http, configured(fake.url + "/pypi", []), fake.url + "/api", 5.0, max_mb * 1024 * 1024
    )


def packages(clock: task.Clock, store: MemoryStore, upstream: Upstream, counters: Counters) -> Packages:
    return Packages(
        clock,
        store,
        {"pypi": upstream.pypi, "stats": upstream.stats},
        {"pypi": 600, "stats": 3600},
        86400,
        {"pypi": Gate(clock), "stats": Gate(clock)},
        counters,
        max_wait=5.0,
    )


@pytest_twisted.ensureDeferred
async def test_gzip_is_asked_for_and_decoded(upstream: FakeUpstream) -> None:
    upstream.packages["numpy"] = json.dumps(big_document("numpy")).encode()
    fetched = await client(upstream).pypi("numpy")
    assert fetched.value is not None and fetched.value["version"] == "1.6.8"
    assert upstream.sent < len(upstream.packages["numpy"]) / 5  # it came compressed


@pytest_twisted.ensureDeferred
async def test_the_size_cap_applies_to_what_gzip_decodes_to(upstream: FakeUpstream) -> None:
    upstream.add("bomb")
    upstream.fault = "gzip-bomb"  # 64 KiB on the wire, 64 MiB decoded
    with pytest.raises(TooLarge, match="decoded"):
        await client(upstream, max_mb=20).pypi("bomb")
    upstream.fault = None
    upstream.packages["big"] = json.dumps(big_document("uv")).encode()  # 4.7 MB decoded, 0.3 MB sent
    with pytest.raises(TooLarge):
        await client(upstream, max_mb=1).pypi("big")
    assert (await client(upstream, max_mb=5).pypi("big")).value is not None


@pytest_twisted.ensureDeferred
async def test_broken_gzip_is_unavailable(upstream: FakeUpstream) -> None:
    def answer(request: Any, path: str) -> bytes:
        request.setHeader(b"Content-Encoding", b"gzip")
        return b"\x1f\x8b\x08\x00 certainly not deflate"

    upstream._answer = answer
    with pytest.raises(Unavailable):
        await client(upstream).pypi("demo")


@pytest.mark.parametrize("validator, header", [("etag", "ETag"), ("last-modified", "Last-Modified")])
@pytest_twisted.ensureDeferred
async def test_a_conditional_request_answered_304_costs_no_body(
    upstream: FakeUpstream, validator: str, header: str
) -> None:
    upstream.validators = (validator,)
    upstream.add("demo")
    fetch = client(upstream)
    first = await fetch.pypi("demo")
    assert set(first.validators) == {header} and first.value is not None
    sent = upstream.sent
    again = await fetch.pypi("demo", first.validators)
    assert again.value is None and again.validators == first.validators
    assert upstream.sent - sent < 600  # headers only
    upstream.add("demo", version="2.0")
    upstream.added["demo"] += 60  # published a minute after the copy
    changed = await fetch.pypi("demo", first.validators)
    assert changed.value is not None and changed.value["version"] == "2.0"


@pytest_twisted.ensureDeferred
async def test_without_validators_every_refresh_is_a_whole_fetch(upstream: FakeUpstream) -> None:
    upstream.validators = ()
    upstream.add("demo")
    clock, counters = task.Clock(), Counters()
    data = packages(clock, MemoryStore(LRU(clock, 100, 10**6)), client(upstream), counters)
    await data.get("pypi", "demo")
    clock.advance(601)
    assert (await data.get("pypi", "demo")).value["version"] == "1.2.3"
    assert counters.upstream["pypi", "ok"] == 2 and counters.upstream["pypi", "not_modified"] == 0


@pytest_twisted.ensureDeferred
async def test_a_304_renews_the_summary_for_every_process_sharing_the_store(upstream: FakeUpstream) -> None:
    upstream.packages["boto3"] = json.dumps(big_document("boto3")).encode()
    clock = task.Clock()
    store = MemoryStore(LRU(clock, 100, 10**7))  # what the daemons share (Redis in production)
    one, two = Counters(), Counters()
    first = packages(clock, store, client(upstream), one)
    second = packages(clock, store, client(upstream), two)
    summary = (await first.get("pypi", "boto3")).value
    whole = upstream.sent
    for daemon in (second, first, second):
        clock.advance(601)
        sent = upstream.sent
        data = await daemon.get("pypi", "boto3")
        assert data.value == summary and not data.stale
        assert data.fresh_until == clock.seconds() + 600  # fresh again for a whole TTL
        assert upstream.sent - sent < whole / 100  # under 1% of the first fetch, itself gzipped
    assert one.upstream["pypi", "ok"] == 1 and one.upstream["pypi", "not_modified"] == 1
    assert two.upstream["pypi", "not_modified"] == 2
    assert upstream.requests["/pypi/boto3/json"] == 4


class Client:
    def __init__(self, **kwargs: Any) -> None:
        self.clock = task.Clock()
        self.fake = FakeUpstream(self.clock)
        self.http = StubTreq(self.fake)
        self.upstream = Upstream(
            self.clock,
            self.http,
            configured("http://pypi.test/pypi", []),
            "http://pypi.test/api",
            timeout=2.0,
            **kwargs,
        )

    def settle(self, d: defer.Deferred[Any], seconds: float = 0.0) -> Any:
        """``d``'s outcome (a result or a Failure), letting up to ``seconds`` pass."""
        outcome: list[Any] = []
        d.addBoth(outcome.append)
        for _ in range(int(seconds / 0.1) + 1):
            self.http.flush()
            if outcome:
                return outcome[0]
            self.clock.advance(0.1)
        raise AssertionError(f"no answer within {seconds} s")


def test_summary_and_counts() -> None:
    client = Client()
    client.fake.add("demo", version="2.0.0", day=1, week=2, month=3)
    summary = client.settle(client.upstream.pypi("demo")).value
    assert summary["version"] == "2.0.0" and "bdist_wheel" in summary["packagetypes"]
    assert client.settle(client.upstream.stats("demo")).value == {"day": 1, "week": 2, "month": 3}
    assert client.fake.requests == {"/pypi/demo/json": 1, "/api/packages/demo/recent": 1}


@pytest.mark.parametrize(
    "fault, error, text",
    [
        (None, NotFound, "/pypi/ghost/json"),
        ("500", Unavailable, "HTTP 500"),
        ("garbage", Unavailable, ""),
        ("wrong-type", Unavailable, ""),
        ("huge", TooLarge, "3145757 bytes"),  # refused by its Content-Length
        ("429", RateLimited, "rate limited for 30 s"),
        ("429-bare", RateLimited, "rate limited for 60 s"),
    ],
)
def test_each_failure_is_one_of_our_errors(fault: str | None, error: type, text: str) -> None:
    client = Client(max_bytes=1024 * 1024)
    client.fake.add("demo")
    client.fake.fault = fault
    failure = client.settle(client.upstream.pypi("ghost" if fault is None else "demo"))
    assert failure.check(error) and text in failure.getErrorMessage()


@pytest.mark.parametrize("fault", ["timeout", "trickle"])
def test_one_deadline_for_headers_and_body(fault: str) -> None:
    client = Client()
    client.fake.add("demo")
    client.fake.fault = fault
    failure = client.settle(client.upstream.pypi("demo"), seconds=2.5)
    assert failure.check(Unavailable) and 2.0 <= client.clock.seconds() <= 2.1
    client.fake.release_hung()


def test_concurrency_is_capped() -> None:
    client = Client(concurrency=2)
    for n in range(5):
        client.fake.add(f"pkg{n}")
    client.fake.delay = 0.5
    calls = [client.upstream.pypi(f"pkg{n}") for n in range(5)]
    client.http.flush()
    assert client.fake.total() == 2
    outcomes = [client.settle(d, seconds=2) for d in calls]
    assert all(outcome.value["version"] == "1.2.3" for outcome in outcomes) and client.fake.total() == 5


@pytest.mark.parametrize(
    "value, seconds",
    [
        (b"30", 30.0),
        (b"0", 0.0),
        (b"-5", 0.0),
        (b"99999", 3600.0),
        (None, 60.0),
        (b"Wed, 21 Oct 2015 07:28:00 GMT", 60.0),
        (b"nan?", 60.0),
    ],
)
def test_retry_after(value: bytes | None, seconds: float) -> None:
    assert retry_after(value) == seconds
