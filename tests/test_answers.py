"""One badge through the whole app in memory: the upstream calls and renders it costs, stale on error, 429s,
error badges and their lifetimes, overrides, the renderer refusing or down, budgets."""

import json

import pytest

from pypipin.badges.parsing import STYLES
from tests.support.fakepypi import release_file
from tests.support.stack import BADGE_NAMES, CLASSIFIERS, DJANGO, Answer, Stack

TUESDAY = 1748941200  # 2025-06-03 09:00 UTC: the fake's files were uploaded on Sunday 2025-06-01 at noon


def test_every_badge_of_one_package_costs_one_call_to_each_api() -> None:
    stack = Stack()
    stack.clock.advance(TUESDAY - stack.clock.seconds())
    stack.upstream.add("twisted", version="24.11.0", classifiers=CLASSIFIERS + DJANGO, month=2_345_678)
    stack.upstream.attest("twisted")
    answers = stack.burst([f"/{badge}/Twisted/badge.svg" for badge in BADGE_NAMES])
    assert {answer.code for answer in answers} == {200}
    assert {answer.header("content-type") for answer in answers} == {"image/svg+xml;charset=utf-8"}
    assert dict(zip(BADGE_NAMES, (answer.shown for answer in answers), strict=True)) == {
        "d": ["downloads", "2.3M/month"],
        "v": ["pypi", "v24.11.0"],
        "py_versions": ["python", "3.9 | 3.12"],
        "implementation": ["implementation", "cpython | pypy"],
        "status": ["status", "stable"],
        "egg": ["egg", "no"],
        "wheel": ["wheel", "yes"],
        "format": ["format", "wheel"],
        "license": ["license", "MIT"],
        "types": ["types", "untyped"],
        "djversions": ["django versions", "4.2 | 5.0"],
        "vulnerabilities": ["vulnerabilities", "none known"],
        "free_threading": ["free-threading", "no"],
        "platforms": ["platforms", "any"],
        "provenance": ["provenance", "github.com/pypa/sampleproject"],
        "project_status": ["project", "active"],
        "release_date": ["release date", "last sunday"],
    }
    # the JSON document, download counts, the simple document and one file's provenance
    assert stack.upstream.requests == {
        "/pypi/twisted/json": 1,
        "/api/packages/twisted/recent": 1,
        "/simple/twisted/": 1,
        "/integrity/twisted/24.11.0/twisted-24.11.0.tar.gz/provenance": 1,
    }


def test_a_burst_costs_one_upstream_call_and_one_render_per_image(stack: Stack) -> None:
    stack.upstream.delay = 0.3  # everyone arrives while the first fetch is under way
    paths = [
        f"/{badge}/demo/badge.svg?style={style}&n={n}"
        for badge in ("v", "wheel", "d")
        for style in STYLES
        for n in range(4)
    ]
    answers = stack.burst(paths, seconds=1)
    assert {answer.code for answer in answers} == {200}
    assert stack.upstream.requests == {"/pypi/demo/json": 1, "/api/packages/demo/recent": 1}
    # 3 badges x 5 styles = 15 distinct images, each drawn once although asked 4 times
    assert len(stack.renderer.calls) == 15 and stack.counters.renders["ok"] == 15


def test_generic_images_are_drawn_once_for_all_packages(stack: Stack) -> None:
    for name in ("alpha", "beta", "gamma"):
        stack.upstream.add(name)
        assert stack.get(f"/wheel/{name}/badge.svg").shown == ["wheel", "yes"]
    assert len(stack.renderer.calls) == 1
    assert stack.counters.cache["images", "hit"] == 2


def test_two_daemons_on_one_store_share_one_pypi_call(stack: Stack) -> None:
    other = Stack(store=stack.store, clock=stack.clock, upstream=stack.upstream)
    stack.upstream.delay = 0.4
    first = [stack.request(f"/v/demo/badge.svg?style={style}") for style in STYLES]
    second = [other.request(f"/v/demo/badge.svg?style={style}") for style in STYLES]
    stack.advance(1)
    other.advance(0.2)  # the other daemon polls the store for the first one's result
    assert {tuple(other.settle(d).shown) for d in second} == {("pypi", "v1.2.3")}
    assert {tuple(stack.settle(d).shown) for d in first} == {("pypi", "v1.2.3")}
    assert stack.upstream.requests["/pypi/demo/json"] == 1


@pytest.mark.parametrize(
    "fault", ["500", "garbage", "wrong-type", "timeout", "trickle", "huge", "gzip-bomb", "429"]
)
def test_stale_copy_served_when_upstream_fails(fault: str) -> None:
    stack = Stack("--pypi-ttl", "1", "--upstream-timeout", "2", "--upstream-max-mb", "1")
    stack.upstream.validators = ()  # a refresh is a whole fetch, not a 304
    stack.upstream.add("demo", version="2.0.0")
    assert stack.get("/v/demo/badge.svg").shown == ["pypi", "v2.0.0"]
    stack.advance(1.2)
    stack.upstream.fault = fault
    answer = stack.get("/v/demo/badge.svg?n=1", seconds=3)
    assert answer.code == 200 and answer.shown == ["pypi", "v2.0.0"]
    assert "max-age=60," in answer.header("cache-control")
    assert stack.counters.upstream["pypi", "stale"] == 1


def test_after_a_429_upstream_is_left_alone_for_its_retry_after(stack: Stack) -> None:
    stack.upstream.fault = "429"  # Retry-After: 30
    assert stack.get("/v/first/badge.svg").shown == ["pypi", "rate limited"]
    stack.upstream.fault = None
    before = stack.upstream.total()
    answer = stack.get("/v/never-seen/badge.svg")
    assert answer.shown == ["pypi", "rate limited"] and "max-age=10," in answer.header("cache-control")
    assert stack.upstream.total() == before
    stack.advance(31)
    assert stack.get("/v/demo/badge.svg").shown == ["pypi", "v1.2.3"]


def test_errors_are_not_cached_and_not_found_is_cached_briefly(stack: Stack) -> None:
    stack.upstream.fault = "500"
    assert stack.get("/v/other/badge.svg").shown == ["pypi", "unavailable"]
    stack.upstream.fault = None
    stack.upstream.add("other")
    assert stack.get("/v/other/badge.svg?style=plastic").shown == ["pypi", "v1.2.3"]
    for style in STYLES:
        assert stack.get(f"/v/ghost/badge.svg?style={style}").shown == ["pypi", "not found"]
    assert stack.upstream.requests["/pypi/ghost/json"] == 1
    stack.advance(61)
    stack.get("/v/ghost/badge.svg")
    assert stack.upstream.requests["/pypi/ghost/json"] == 2


@pytest.mark.parametrize("fault", ["timeout", "trickle"])
def test_a_slow_upstream_gives_unavailable_in_time_while_others_are_served(stack: Stack, fault: str) -> None:
    stack.get("/v/demo/badge.svg")
    stack.upstream.fault = fault
    stack.upstream.add("slow")
    started = stack.clock.seconds()
    slow = stack.request("/v/slow/badge.svg")
    assert stack.get("/v/demo/badge.svg?style=plastic").shown == ["pypi", "v1.2.3"]  # nothing waits for it
    assert stack.settle(slow, seconds=3).shown == ["pypi", "unavailable"]
    assert stack.clock.seconds() - started <= 2.1  # --upstream-timeout 2
    stack.upstream.release_hung()


@pytest.mark.parametrize(
    "fault, shown",
    [
        ("huge", "unavailable"),
        ("gzip-bomb", "unavailable"),
        ("garbage", "unavailable"),
        ("wrong-type", "unavailable"),
        ("500", "unavailable"),
        ("429-bare", "rate limited"),
    ],
)
def test_bad_upstream_answers_are_error_badges(fault: str, shown: str) -> None:
    stack = Stack("--upstream-max-mb", "1")
    stack.upstream.add("fresh")
    stack.upstream.fault = fault
    answer = stack.get("/v/fresh/badge.svg")
    assert answer.code == 200 and answer.shown == ["pypi", shown]
    assert "max-age=10," in answer.header("cache-control")


def client(n: int) -> dict[bytes, list[bytes]]:
    """The headers of a request from client ``n`` (the in-memory peer is a trusted proxy)."""
    return {b"X-Forwarded-For": [f"192.0.2.{n}".encode()]}


def test_stats_calls_are_rate_limited_on_our_side() -> None:
    stack = Stack("--stats-rate", "1")
    names = [f"pkg{n}" for n in range(8)]
    for name in names:
        stack.upstream.add(name, month=5)
    shown = [
        stack.get(f"/d/{name}/badge.svg", seconds=6, headers=client(n)).shown[1]
        for n, name in enumerate(names)
    ]
    assert shown == ["5/month"] * 5 + ["unavailable"] * 3  # a burst of 5, then one a minute
    assert stack.upstream.total("/api/") == 5
    stack.advance(60)
    assert stack.get("/d/pkg7/badge.svg").shown[1] == "5/month"


def test_stale_counts_are_served_while_our_own_rate_limit_holds_calls_back() -> None:
    stack = Stack("--stats-rate", "1", "--stats-ttl", "1")
    for n in range(6):
        stack.upstream.add(f"pkg{n}", month=5)
        stack.get(f"/d/pkg{n}/badge.svg", headers=client(n))
    stack.advance(2)
    assert stack.get("/d/pkg0/badge.svg").shown == ["downloads", "5/month"]  # no token: the stale count
    assert stack.upstream.total("/api/") == 5


def test_downloads_come_from_stats_never_from_pypi() -> None:
    stack = Stack()
    stack.upstream.add("demo", day=3, week=42, month=999)
    for period, text in (
        ("day", "3/day"),
        ("week", "42/week"),
        ("month", "999/month"),
        ("bogus", "999/month"),
    ):
        assert stack.get(f"/download/demo/badge.svg?period={period}").shown == ["downloads", text]
    assert stack.get("/pypi/dw/demo").shown == ["downloads", "42/week"]
    # PyPI is asked once, whether the name exists (pypistats' small budget is kept for real names);
    # its document's downloads field (always -1) is never what the badge says
    assert stack.upstream.requests == {"/pypi/demo/json": 1, "/api/packages/demo/recent": 1}


def test_error_badges_and_their_lifetimes(stack: Stack) -> None:
    answer = stack.get("/v/-not-a-name-/badge.svg")
    assert answer.code == 200 and answer.shown == ["pypi", "invalid name"]
    assert "max-age=86400," in answer.header("cache-control")
    answer = stack.get("/license/no-such-package/badge.svg")
    assert answer.shown == ["license", "not found"] and "max-age=60," in answer.header("cache-control")
    assert stack.upstream.total("/pypi/-not") == 0
    assert [call["color"] for call in stack.renderer.calls] == ["red", "red"]


def test_include_prereleases() -> None:
    stack = Stack()
    stack.upstream.add(
        "demo", version="1.0.0", releases={"2.0.0b1": [release_file("demo", "2.0.0b1", "sdist")]}
    )
    assert stack.get("/v/demo/badge.svg").shown == ["pypi", "v1.0.0"]
    assert json.loads(stack.get("/pypi/v/demo.json?include_prereleases").body)["color"] == "orange"
    assert stack.get("/v/demo/badge.svg?include_prereleases=1").shown == ["pypi", "v2.0.0b1"]


def test_overrides_reach_the_renderer(stack: Stack) -> None:
    stack.get("/v/demo/badge.png?style=social&label=ver&color=4c1&labelColor=blue&scale=3&n=1")
    (spec,) = stack.renderer.calls
    assert spec == {
        "label": "ver",
        "message": "v1.2.3",
        "color": "#44cc11",
        "labelColor": "blue",
        "style": "social",
        "format": "png",
        "scale": 3,
        "logo": None,
    }


def test_a_spec_the_renderer_refuses_is_drawn_as_render_error(stack: Stack) -> None:
    stack.renderer.refuse = "v1.2.3"
    answer = stack.get("/v/demo/badge.svg")
    assert answer.code == 200 and answer.shown == ["pypi", "render error"]


def test_renderer_down_is_a_503_never_cached(stack: Stack) -> None:
    stack.renderer.down = True
    answer = stack.get("/v/demo/badge.svg")
    assert answer.code == 503 and answer.header("retry-after") == "1"
    health = stack.get("/health")
    assert health.code == 503 and json.loads(health.body)["renderer"] == "down"
    stack.renderer.down = False
    assert stack.get("/v/demo/badge.svg").code == 200
    assert stack.counters.renders == {"error": 1, "ok": 1}


def test_a_client_over_its_render_budget_gets_one_generic_image_at_once() -> None:
    stack = Stack("--client-renders", "2")
    stack.upstream.add("demo")
    shown = [stack.get(f"/v/demo/badge.svg?label=mine{n}&color=red").shown for n in range(6)]
    assert shown[:2] == [["mine0", "v1.2.3"], ["mine1", "v1.2.3"]]
    assert shown[2:] == [["pypipin", "rate limited"]] * 4
    assert len(stack.renderer.calls) == 3  # two custom images and the one refusal image
    refused = stack.get("/v/demo/badge.svg?label=mine9")
    assert refused.header("cache-control") == "private, no-store"  # that client's answer alone
    assert stack.counters.over_budget["renders"] == 5
    # what is drawn already costs nothing: the hot path, and another URL of a drawn image
    assert stack.get("/v/demo/badge.svg?color=red&label=mine1").shown == ["mine1", "v1.2.3"]
    assert stack.get("/pypi/v/demo?label=mine0&color=red").shown == ["mine0", "v1.2.3"]
    assert len(stack.renderer.calls) == 3
    stack.advance(30)  # 2 a minute: one render is back
    assert stack.get("/v/demo/badge.svg?label=again").shown == ["again", "v1.2.3"]


def test_names_looked_up_spend_a_budget_made_up_ones_twice() -> None:
    stack = Stack("--client-names", "6")
    for n in range(4):
        stack.upstream.add(f"real{n}")
    assert [stack.get(f"/v/real{n}/badge.json").code for n in range(3)] == [200] * 3  # a unit each
    assert stack.get("/v/real0/badge.svg").shown == ["pypi", "v1.2.3"]  # cached: free
    shown = [stack.get(f"/v/nope{n}/badge.svg").shown for n in range(3)]  # two units each
    assert shown == [["pypi", "not found"]] * 2 + [["pypipin", "rate limited"]]
    assert stack.upstream.total("/pypi/nope") == 2
    assert stack.get("/v/nope0/badge.svg").shown == ["pypi", "not found"]  # the hot path costs nothing
    refused = stack.get("/v/real3/badge.svg")  # a name not cached: an upstream call, refused
    assert refused.shown == ["pypipin", "rate limited"]
    assert refused.header("cache-control") == "private, no-store"
    # over budget, what costs no upstream call is served: the store's data, in a new image too
    assert stack.get("/pypi/v/real0.svg").shown == ["pypi", "v1.2.3"]  # the image is in memory
    assert stack.get("/v/real1/badge.svg?style=plastic").shown == ["pypi", "v1.2.3"]  # a new render
    assert stack.upstream.total("/pypi/real3") == 0
    stack.advance(20)  # 6 a minute: the unit owed, and one more, are back
    assert stack.get("/v/real3/badge.svg").shown == ["pypi", "v1.2.3"]


def test_a_refusal_waits_refusal_delay_for_a_direct_client_and_none_for_a_proxy() -> None:
    direct = Stack("--client-names", "1", "--trusted-proxy", "10.0.0.0/8")  # StubTreq's peer: 127.0.0.1
    direct.upstream.add("one")
    direct.upstream.add("two")
    assert direct.get("/v/one/badge.svg").shown == ["pypi", "v1.2.3"]
    answers: list[Answer] = []
    direct.request("/v/two/badge.svg").addCallback(answers.append)
    direct.advance(0.45)
    assert answers == []
    direct.advance(1.1)  # the default, 1 s, from half to one and a half times
    assert [answer.shown for answer in answers] == [["pypipin", "rate limited"]]
    assert direct.get("/v/one/badge.svg").shown == ["pypi", "v1.2.3"]  # what costs nothing: at once
    proxy = Stack("--client-names", "1", "--refusal-delay", "5")
    proxy.upstream.add("one")
    proxy.upstream.add("two")
    assert proxy.get("/v/one/badge.svg", headers={b"X-Forwarded-For": [b"203.0.113.9"]}).code == 200
    proxied = proxy.get("/v/two/badge.svg", headers={b"X-Forwarded-For": [b"203.0.113.9"]})
    assert proxied.shown == ["pypipin", "rate limited"]  # through a trusted proxy: at once


def test_a_refusal_that_cannot_be_drawn_is_a_503_then_drawn_once_node_is_back() -> None:
    stack = Stack("--client-renders", "1")
    stack.upstream.add("demo")
    assert stack.get("/v/demo/badge.svg?label=one").shown == ["one", "v1.2.3"]
    stack.renderer.down = True  # node is gone when the generic refusal image is first needed
    answer = stack.get("/v/demo/badge.svg?label=two")
    assert answer.code == 503 and answer.header("retry-after") == "1"
    stack.renderer.down = False
    assert stack.get("/v/demo/badge.svg?label=three").shown == ["pypipin", "rate limited"]
