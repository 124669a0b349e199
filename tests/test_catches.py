"""Each error its own type, caught by that type: a decoding bug is no stale badge, a client over budget
no upstream failure, and every way hostile input fails is the error that says so."""

import base64
import json
from typing import Any

import pytest
from treq.testing import StubTreq
from twisted.internet import defer, task
from twisted.logger import capturedLogs, formatEvent

from pypipin.badges import logos
from pypipin.badges.parsing import parse
from pypipin.limits.budgets import OverBudget
from pypipin.upstream import summary
from pypipin.upstream.client import Unavailable, Upstream
from pypipin.upstream.indexes import configured
from tests.support.fakepypi import FakeUpstream
from tests.support.stack import Stack

DEEP = b"[" * 5000 + b"]" * 5000  # past Python's recursion limit, which msgspec counts its depth against
SQUARE = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="9" height="9"/></svg>'
LOGO = "data:image/svg+xml;base64," + base64.b64encode(SQUARE).decode()


def test_the_errors_are_their_own_types() -> None:
    """So that no ``except Unavailable`` or ``except ValueError`` catches them by accident."""
    assert not issubclass(OverBudget, Unavailable)
    assert not issubclass(summary.Garbled, ValueError) and not issubclass(logos.Refused, ValueError)


@pytest.mark.parametrize(
    "body",
    [
        DEEP,
        b'{"info": {"version": "1"}, "releases": {"1": ' + DEEP + b"}}",
        b'{"info": {"version": "1", "unread": ' + DEEP + b"}}",
        b'{"data": {"last_day": 1, "last_week": 1, "last_month": 1, "unread": ' + DEEP + b"}}",
        b"\xff\xfe",
        b'{"info": {"version": ""}}',
        b'{"data": {"last_day": "1", "last_week": 1, "last_month": 1}}',
    ],
)
def test_every_hostile_document_is_garbled(body: bytes) -> None:
    for decode in (summary.from_pypi, summary.from_stats):
        with pytest.raises(summary.Garbled):
            decode(body)


def fetched(outcome: defer.Deferred[Any], http: StubTreq) -> Any:
    """The outcome (a result or a Failure) of an upstream call over ``http``, which answers at once."""
    found: list[Any] = []
    outcome.addBoth(found.append)
    http.flush()
    assert found, "no answer"
    return found[0]


def stubbed(clock: task.Clock) -> tuple[FakeUpstream, StubTreq, Upstream]:
    fake = FakeUpstream(clock)
    http = StubTreq(fake)
    indexes = configured("http://pypi.test/pypi", [])
    return fake, http, Upstream(clock, http, indexes, "http://pypi.test/api", 2.0)


def test_a_garbled_document_is_unavailable_a_decoding_bug_a_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    fake, http, upstream = stubbed(task.Clock())
    fake.packages["deep"] = b'{"info": ' + DEEP + b"}"
    failure = fetched(upstream.pypi("deep"), http)
    assert failure.check(Unavailable)
    assert "/pypi/deep/json: maximum recursion depth" in failure.getErrorMessage()

    def broken(body: bytes) -> dict[str, Any]:
        raise TypeError("a bug in decoding")

    fake.add("demo")
    monkeypatch.setattr(summary, "from_pypi", broken)
    failure = fetched(upstream.pypi("demo"), http)
    assert failure.check(TypeError) and not failure.check(Unavailable)  # never shown as an unavailable badge


def test_a_hostile_document_is_an_unavailable_badge() -> None:
    stack = Stack()
    stack.upstream.packages["deep"] = b'{"info": ' + DEEP + b"}"
    answer = stack.get("/v/deep/badge.svg")
    assert answer.code == 200 and json.loads(answer.body)["message"] == "unavailable"


@pytest.mark.parametrize(
    "logo, kept",
    [
        (LOGO, True),
        (LOGO[:-4] + "====", False),  # not base64
        (LOGO + "é", False),  # not ASCII: never base64
        (
            "data:image/svg+xml;base64," + base64.b64encode(b"<html/>").decode(),
            False,
        ),  # refused by logos.check
    ],
)
def test_a_logo_that_cannot_be_drawn_is_dropped(logo: str, kept: bool) -> None:
    wanted = parse(b"/v/twisted/badge.svg", {"logo": logo})
    assert wanted is not None and wanted.logo == (logo if kept else None)


def test_over_budget_the_stale_copy_is_served_and_no_upstream_failure_logged() -> None:
    stack = Stack("--client-names", "1", "--pypi-ttl", "1")
    stack.upstream.add("demo")
    assert stack.get("/v/demo/badge.svg").code == 200  # the client's one name a minute
    stack.advance(2)
    with capturedLogs() as events:
        over = stack.get("/v/demo/badge.svg?x=1")  # no longer fresh, and no budget left: the stale copy
        stack.advance(60)
        stack.upstream.fault = "500"
        failed = stack.get("/v/demo/badge.svg?x=2")  # budget again, and upstream fails: the stale copy
    lines = [formatEvent(event) for event in events if "Serving stale" in formatEvent(event)]
    assert json.loads(over.body)["message"] == json.loads(failed.body)["message"] == "v1.2.3"
    assert stack.upstream.requests["/pypi/demo/json"] == 2  # the first, and the one that failed
    assert len(lines) == 1 and "HTTP 500" in lines[0]
