"""Redis with Sentinel: three daemons follow the master through a SIGKILL under steady traffic."""

import itertools
import json
import time
from collections.abc import Iterator

import pytest
import pytest_twisted
from twisted.internet import defer
from twisted.internet.threads import deferToThread

from pypipin.data.keys import package
from tests.support.failover import PROMOTION_WAIT, failover_gap
from tests.support.fakepypi import FakeUpstream
from tests.support.loopback import get, sleep
from tests.support.processes import Daemon, RedisServer, Replicated

pytestmark = pytest.mark.processes

NEW = 3000  # new packages the fake serves, asked one after another during the failover


@pytest.fixture
def replicated() -> Iterator[Replicated]:
    if not RedisServer.available:
        pytest.skip("redis-server is not installed")
    servers = Replicated()
    yield servers
    servers.stop()


async def health(daemon: Daemon) -> dict:
    _, body = await get(daemon.url + "/health")
    return json.loads(body)


async def all_on(daemons: list[Daemon], server: RedisServer, timeout: float) -> bool:
    """Whether, within ``timeout`` s, every daemon uses ``server`` as its Redis."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [await health(daemon) for daemon in daemons]
        if all((s["cache"], s["redis_master"]) == ("redis", f"127.0.0.1:{server.port}") for s in states):
            return True
        await sleep(0.2)
    return False


@pytest_twisted.ensureDeferred
async def test_a_sigkilled_master_under_traffic_costs_no_cached_badge_and_the_fleet_follows_the_new_one(
    upstream: FakeUpstream, replicated: Replicated, start_daemon
) -> None:
    for name in ["demo", "burst", "after", *(f"new{n}" for n in range(NEW))]:
        upstream.add(name)
    started = [start_daemon(replicated.url) for _ in range(3)]
    daemons = [await daemon.drawing() for daemon in started]
    old = replicated.master()
    assert await all_on(daemons, old, 10)
    for daemon in daemons:
        response, _ = await get(daemon.url + "/v/demo/badge.svg")
        assert response.code == 200

    names = (f"new{n}" for n in itertools.count())
    figures = await deferToThread(
        failover_gap, replicated, [daemon.url for daemon in daemons], "/v/demo/badge.svg", names
    )
    assert figures["non_2xx"] == 0 and figures["new_non_2xx"] == 0, figures
    assert figures["requests"] > 100 and figures["promotion_s"] < PROMOTION_WAIT, figures

    new = replicated.master()
    assert new is not old
    assert await all_on(daemons, new, 30 - 8), [await health(daemon) for daemon in daemons]  # 8 s: after
    assert figures["no_writes_s"] < 30, figures
    response, _ = await get(daemons[0].url + "/v/after/badge.svg")
    assert response.code == 200 and new.command("EXISTS", package("pypi", "after")) == "1"

    burst = await defer.gatherResults(
        [defer.ensureDeferred(get(daemons[n % 3].url + "/v/burst/badge.svg")) for n in range(30)]
    )
    assert [response.code for response, _ in burst] == [200] * 30
    assert upstream.requests["/pypi/burst/json"] == 1

    for daemon in daemons:
        assert daemon.log_text().count("Redis master moved") == 1, daemon.log_text()


@pytest_twisted.ensureDeferred
async def test_a_planned_failover_where_the_old_master_still_answers_moves_the_writes_too(
    upstream: FakeUpstream, replicated: Replicated, start_daemon
) -> None:
    """``SENTINEL FAILOVER``: the old master lives on as a replica (``+switch-master`` says it moved)."""
    upstream.add("later")
    daemon = await start_daemon(replicated.url).drawing()
    old = replicated.master()
    assert await all_on([daemon], old, 10)
    replicated.sentinels[0].command("SENTINEL", "FAILOVER", Replicated.MASTER)
    await deferToThread(replicated.wait, lambda: replicated.promoted(old.port), "a promotion", PROMOTION_WAIT)
    new = replicated.master()
    assert await all_on([daemon], new, 30), await health(daemon)
    response, _ = await get(daemon.url + "/v/later/badge.svg")
    assert response.code == 200 and new.command("EXISTS", package("pypi", "later")) == "1"
    assert old.command("PING") == "PONG"  # it never went away
    assert daemon.log_text().count("Redis master moved") == 1
