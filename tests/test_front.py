"""The hot path (Front) in memory: HEAD through it, answers without the app until the data is due,
parameters no badge reads do not grow it."""

from pypipin.web.encoding import compress
from tests.support.stack import Stack


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


def test_the_hot_path_answers_without_the_app_until_the_data_is_due(stack: Stack) -> None:
    stack.get("/v/demo/badge.svg")
    assert stack.get("/v/demo/badge.svg").shown == ["pypi", "v1.2.3"]
    assert stack.counters.cache["hot", "hit"] == 1 and stack.upstream.requests["/pypi/demo/json"] == 1
    stack.upstream.add("demo", version="2.0.0")
    stack.advance(599)
    assert stack.get("/v/demo/badge.svg").shown == ["pypi", "v1.2.3"]
    stack.advance(2)  # --pypi-ttl 600 has passed
    assert stack.get("/v/demo/badge.svg").shown == ["pypi", "v2.0.0"]
    assert stack.upstream.requests["/pypi/demo/json"] == 2


def test_parameters_no_badge_reads_do_not_grow_the_hot_path_or_push_others_out() -> None:
    stack = Stack("--cache-entries", "8")
    stack.upstream.add("demo")
    stack.upstream.add("other")
    assert stack.get("/v/other/badge.svg").shown == ["pypi", "v1.2.3"]
    assert stack.get("/v/demo/badge.svg").shown == ["pypi", "v1.2.3"]
    plain = stack.get("/v/demo/badge.svg?style=flat-square")
    drawn, fetched = len(stack.renderer.calls), stack.upstream.total()
    for n in range(20):
        junk = [
            f"x={n}",
            f"style=junk{n}",
            f"color=nope{n}&x={n}",
            f"scale={n}",
            f"cacheSeconds=-{n}",
            f"label=%01{n}",
            f"style=flat-square&x={n}",
            f"x={n}&style=flat-square&style=plastic",
        ]
        for each in junk:
            assert stack.get(f"/v/demo/badge.svg?{each}").code == 200
    for _ in range(2):  # parsed the first time, remembered the second
        assert stack.get("/v/demo/badge.svg?x=1&style=flat-square").body == plain.body
    assert len(stack.hot) == 3  # other, demo, demo?style=flat-square: every junk URL is one of the last two
    assert (len(stack.renderer.calls), stack.upstream.total()) == (drawn, fetched)
    assert stack.counters.cache["hot", "hit"] == 20 * 8 + 2
    assert stack.get("/v/other/badge.svg?utm_source=x").shown == ["pypi", "v1.2.3"]
    assert stack.counters.cache["hot", "hit"] == 20 * 8 + 3
