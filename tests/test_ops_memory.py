"""Operations in memory (tests/util.py's Stack, a fake clock): upstream failure lines, HEAD through the
whole app, /health's degraded flag."""

import json

from twisted.logger import capturedLogs, formatEvent

from pypipin.encoding import compress
from util import Stack


def test_an_upstream_failure_is_logged_once_a_minute_per_package_source_and_cause() -> None:
    stack = Stack()
    stack.upstream.fault = "500"
    with capturedLogs() as events:
        for round_ in range(3):
            for name in ("one", "two"):
                stack.get(f"/v/{name}/badge.svg?round={round_}")
            stack.advance(11)  # past the error badge's 10 s: each round asks PyPI again
        stack.advance(40)  # over a minute since the first lines
        stack.get("/v/one/badge.svg?round=last")
    lines = [formatEvent(event) for event in events if "Upstream" in formatEvent(event)]
    assert stack.upstream.requests["/pypi/one/json"] == 4
    assert [line.split(":")[0] for line in lines] == [
        "Upstream pypi failed for one", "Upstream pypi failed for two", "Upstream pypi failed for one"]
    assert lines[0].endswith("/pypi/one/json: HTTP 500")


def test_head_through_the_app_and_the_hot_path() -> None:
    stack = Stack()
    stack.upstream.add("demo")
    for _ in range(2):  # the app, then the hot path
        plain = stack.get("/v/demo/badge.svg")  # treq asks for gzip, and gives the body decoded
        head = stack.get("/v/demo/badge.svg", method="HEAD")
        sent = compress(plain.body)  # what went over the wire
        assert sent is not None
        assert head.body == b"" and head.header("content-length") == str(len(sent))
    home = stack.get("/")
    assert home.code == 200 and home.body.startswith(b"<!")


def test_health_is_not_degraded_on_a_cache_of_this_process_only() -> None:
    stack = Stack()
    state = json.loads(stack.get("/health").body)
    assert (state["cache"], state["cache_error"], state["degraded"]) == ("in-process", None, False)
