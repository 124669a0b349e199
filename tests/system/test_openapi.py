"""Schemathesis over /openapi.json against a real daemon (fake PyPI, redis-server on a free port):
every badge route in both URL forms, valid and hostile values, finds no 5xx, no answer the document
does not describe, and no traceback in the daemon's log."""

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from pypipin.badges.kinds import ORIGINAL_NAMES, SHIELDS_NAMES
from pypipin.web import openapi
from tests.support.processes import Daemon, FakeUpstreamProcess, RedisServer, wait_for_health

pytestmark = pytest.mark.processes
EXAMPLES = 8  # per operation and mode: 32 operations (512 requests at most) stay well under a minute
SEEN: dict[str, int] = {}


@pytest.fixture(scope="module")
def daemon(redis_server: RedisServer) -> Iterator[Daemon]:
    upstream = FakeUpstreamProcess(3)
    # budgets out of the way: this run tests what the routes answer, not budgets (test_floods.py does)
    limits = ("--client-renders", "--global-renders", "--client-names", "--stats-rate", "--pypi-rate")
    started = Daemon(upstream.url, redis_server.url, *(arg for name in limits for arg in (name, "1000000")))
    wait_for_health(started.url)
    yield started
    started.stop()
    upstream.stop()
    log = started.log_text()
    assert "Traceback" not in log and "Unhandled" not in log, log[-4000:]


@pytest.fixture(scope="module")
def api(daemon: Daemon) -> schemathesis.BaseSchema:
    loaded = schemathesis.openapi.from_url(daemon.url + "/openapi.json")
    loaded.config.update(base_url=daemon.url)
    return loaded


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("path", list(openapi.document()["paths"]))
def test_every_route_answers_as_documented(
    api: schemathesis.BaseSchema, path: str, mode: GenerationMode
) -> None:
    """Valid and hostile values (negative mode: outside each parameter's schema) of one route."""
    operation = api[path]["GET"]

    @given(operation.as_strategy(generation_mode=mode))
    @settings(deadline=None, suppress_health_check=list(HealthCheck), max_examples=EXAMPLES, database=None)
    def answers(case: schemathesis.Case) -> None:
        response = case.call_and_validate(timeout=15)
        SEEN[path] = SEEN.get(path, 0) + 1
        assert response.status_code < 500

    answers()


def test_every_url_name_is_a_route_the_run_reached() -> None:
    """Every URL name of both forms is a path of the document, and the run sent it requests."""
    original = {path.split("/")[1] for path in SEEN if not path.startswith("/pypi/")}
    shields = {path.split("/")[2] for path in SEEN if path.startswith("/pypi/")}
    assert (original, shields) == (set(ORIGINAL_NAMES), set(SHIELDS_NAMES))
