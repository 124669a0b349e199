"""The trust badges served by a real daemon over real HTTP (gzip, Accept headers), and what a cold
start of every badge of one package costs PyPI."""

import json

import pytest
import pytest_twisted

from tests.support.fakepypi import FakeUpstream
from tests.support.loopback import get
from tests.support.stack import BADGE_NAMES


@pytest.mark.processes
@pytest_twisted.ensureDeferred
async def test_trust_badges_and_the_calls_a_cold_start_costs(upstream: FakeUpstream, start_daemon) -> None:
    upstream.add("signed", version="3.1")
    upstream.attest("signed")
    upstream.add("evil")
    upstream.quarantine("evil")
    daemon = await start_daemon().ready()
    for path, shown in [
        ("/provenance/signed/badge.json", ["provenance", "github.com/pypa/sampleproject"]),
        ("/pypi/provenance/signed.json", ["provenance", "github.com/pypa/sampleproject"]),
        ("/project_status/signed/badge.json", ["project", "active"]),
        ("/pypi/projectstatus/signed.json", ["project", "active"]),
        ("/pypi/release-date/evil.json", ["release date", "quarantined"]),
    ]:
        response, body = await get(daemon.url + path)
        document = json.loads(body)
        assert response.code == 200 and [document["label"], document["message"]] == shown, path
    for name in BADGE_NAMES:
        response, _ = await get(f"{daemon.url}/{name}/signed/badge.svg")
        assert response.code == 200
    assert upstream.requests == {
        "/pypi/signed/json": 1,
        "/api/packages/signed/recent": 1,
        "/simple/signed/": 1,
        "/integrity/signed/3.1/signed-3.1.tar.gz/provenance": 1,
        "/pypi/evil/json": 1,
        "/simple/evil/": 1,
        "/rss/updates.xml": 1,  # the daemon's own read of the update feed, at start
    }
    assert "Traceback" not in daemon.log_text()
