"""Upstream failure lines in memory (tests/support/stack.py's Stack, a fake clock): one a minute per source
and cause, whatever the names."""

import re

from twisted.logger import capturedLogs, formatEvent

from tests.support.stack import Stack


def test_upstream_failures_are_one_line_a_minute_per_source_and_cause_whatever_the_names() -> None:
    stack = Stack("--client-names", "1000")
    stack.upstream.fault = "500"
    names = [f"random-{n:03d}" for n in range(100)]
    with capturedLogs() as events:
        for name in names:  # 100 names that fail within a minute
            assert stack.get(f"/v/{name}/badge.svg").shown == ["pypi", "unavailable"]
            stack.advance(0.5)
        in_the_minute = [formatEvent(event) for event in events if "Upstream" in formatEvent(event)]
        stack.advance(10)  # the minute since the first failure ends
        stack.get("/v/random-000/badge.svg?again=1")
        stack.advance(61)  # and the next one
    lines = [formatEvent(event) for event in events if "Upstream" in formatEvent(event)]
    assert sum(stack.upstream.requests[f"/pypi/{name}/json"] for name in names) == 101
    assert len(in_the_minute) == 1
    first = r"Upstream pypi failed for random-000: \S+/pypi/random-000/json: HTTP 500"
    assert re.fullmatch(first, in_the_minute[0])
    assert lines[1:] == [
        "Upstream pypi failed 99 more times in the last minute (cause: HTTP 500), e.g. for random-001",
        "Upstream pypi failed 1 more times in the last minute (cause: HTTP 500), e.g. for random-000",
    ]
    stack.advance(61)  # a quiet minute: no line, and the next failure is logged at once again
    stack.get("/v/random-050/badge.svg?again=2")
    lines = [formatEvent(event) for event in events if "Upstream" in formatEvent(event)]
    assert len(lines) == 3


def test_a_failure_line_per_cause_and_source() -> None:
    stack = Stack("--client-names", "1000", "--stats-rate", "1000")  # one client: its share must not bind
    with capturedLogs() as events:
        for fault in ("500", "garbage", "500"):
            stack.upstream.fault = fault
            stack.get(f"/v/{fault}-a/badge.svg")
            stack.get(f"/d/{fault}-b/badge.svg")
            stack.advance(1)
    lines = [formatEvent(event) for event in events if "Upstream" in formatEvent(event)]
    assert [line.split(":")[0] for line in lines] == [
        "Upstream pypi failed for 500-a",
        "Upstream stats failed for 500-b",
        "Upstream pypi failed for garbage-a",
        "Upstream stats failed for garbage-b",
    ]
