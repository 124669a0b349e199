"""The whole app in memory (tests/util.py's Stack): caching, single-flight, stale on error, rate limits,
error badges, headers and routes, on a fake clock with the fake PyPI and a fake renderer."""

import json
import re
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fakepypi import release_file
from pypipin.badges.kinds import ORIGINAL_NAMES
from pypipin.badges.parsing import HEX_COLOR, MAX_LABEL, NAMED_COLORS, STYLES
from pypipin.web.state import state
from util import (
    BADGE_NAMES, CLASSIFIERS, NORMAL_UPSTREAM_PATH, Answer, Stack, hostile_segment, hostile_value, query_key,
)

DJANGO = ["Framework :: Django :: 4.2", "Framework :: Django :: 5.0"]


@pytest.fixture
def stack() -> Stack:
    made = Stack("--upstream-timeout", "2")
    made.upstream.add("demo")
    return made


def test_every_badge_of_one_package_costs_one_pypi_and_one_stats_call() -> None:
    stack = Stack()
    stack.upstream.add("twisted", version="24.11.0", classifiers=CLASSIFIERS + DJANGO, month=2_345_678)
    answers = stack.burst([f"/{badge}/Twisted/badge.svg" for badge in BADGE_NAMES])
    assert {answer.code for answer in answers} == {200}
    assert {answer.header("content-type") for answer in answers} == {"image/svg+xml;charset=utf-8"}
    assert dict(zip(BADGE_NAMES, (answer.shown for answer in answers))) == {
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
    }
    assert stack.upstream.requests == {"/pypi/twisted/json": 1, "/api/packages/twisted/recent": 1}


def test_a_burst_costs_one_upstream_call_and_one_render_per_image(stack: Stack) -> None:
    stack.upstream.delay = 0.3  # everyone arrives while the first fetch is under way
    paths = [f"/{badge}/demo/badge.svg?style={style}&n={n}" for badge in ("v", "wheel", "d") for style in STYLES
             for n in range(4)]
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


@pytest.mark.parametrize("fault", ["500", "garbage", "wrong-type", "timeout", "trickle", "huge", "gzip-bomb", "429"])
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


@pytest.mark.parametrize("fault, shown", [("huge", "unavailable"), ("gzip-bomb", "unavailable"), ("garbage", "unavailable"),
                                          ("wrong-type", "unavailable"), ("500", "unavailable"),
                                          ("429-bare", "rate limited")])
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
    shown = [stack.get(f"/d/{name}/badge.svg", seconds=6, headers=client(n)).shown[1] for n, name in enumerate(names)]
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
    for period, text in (("day", "3/day"), ("week", "42/week"), ("month", "999/month"), ("bogus", "999/month")):
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


@pytest.mark.parametrize("path", ["/nope/demo/badge.svg", "/v/demo/badge.bmp", "/v/demo", "/pypi/nope/demo",
                                  "/pypi/frameworkversions/demo"])
def test_what_is_no_badge_is_a_404(stack: Stack, path: str) -> None:
    answer = stack.get(path)
    assert answer.code == 404 and answer.header("content-type") == "text/plain; charset=utf-8"
    assert stack.upstream.total() == 0


def test_a_path_of_bad_utf8_is_a_400(stack: Stack) -> None:
    assert stack.get("/v/%ff/badge.svg").code == 400
    assert stack.upstream.total() == 0


def test_http_caching_headers_etag_and_304(stack: Stack) -> None:
    answer = stack.get("/wheel/demo/badge.svg")
    assert answer.header("cache-control") == (
        "public, max-age=3600, s-maxage=3600, stale-while-revalidate=86400, stale-if-error=604800"
    )
    assert answer.header("access-control-allow-origin") == "*"
    etag = answer.header("etag")
    assert re.fullmatch(r'"[0-9a-f]{32}(-gz)?"', etag)  # treq asks for gzip: then the gzipped copy's tag
    for _ in range(2):  # first from the app, then from the hot path
        again = stack.get("/wheel/demo/badge.svg", headers={b"If-None-Match": [b'"x", ' + etag.encode()]})
        assert again.code == 304 and again.body == b""
    assert stack.get("/wheel/demo/badge.svg", headers={b"If-None-Match": [b"*"]}).code == 304
    assert stack.get("/wheel/demo/badge.svg", headers={b"If-None-Match": [b'"other"']}).code == 200
    assert "max-age=600," in stack.get("/v/demo/badge.svg").header("cache-control")
    assert "max-age=7200," in stack.get("/v/demo/badge.svg?cacheSeconds=7200").header("cache-control")
    assert "max-age=3600," in stack.get("/wheel/demo/badge.svg?cacheSeconds=5").header("cache-control")


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


def test_head_is_answered_like_get_without_a_body(stack: Stack) -> None:
    for _ in range(2):  # app, then hot path
        answer = stack.get("/v/demo/badge.svg", method="HEAD")
        assert answer.code == 200 and answer.body == b"" and answer.header("etag")


@pytest.mark.parametrize("ext, content_type", [("svg", "image/svg+xml;charset=utf-8"), ("png", "image/png"),
                                               ("json", "application/json")])
def test_formats_and_their_content_types(stack: Stack, ext: str, content_type: str) -> None:
    answer = stack.get(f"/v/demo/badge.{ext}")
    assert answer.code == 200 and answer.header("content-type") == content_type


def test_json_endpoint_schema(stack: Stack) -> None:
    assert json.loads(stack.get("/pypi/v/demo.json").body) == {
        "schemaVersion": 1, "label": "pypi", "message": "v1.2.3", "color": "blue", "isError": False,
    }
    assert json.loads(stack.get("/v/ghost/badge.json").body) == {
        "schemaVersion": 1, "label": "pypi", "message": "not found", "color": "red", "isError": True,
    }
    assert json.loads(stack.get("/v/demo/badge.json?label=ver&color=ff0000").body)["color"] == "#ff0000"
    assert stack.renderer.calls == []  # JSON needs no renderer


TWINS = {
    "/pypi/dd/demo": "/d/demo/badge.json?period=day",
    "/pypi/dw/demo": "/d/demo/badge.json?period=week",
    "/pypi/dm/demo": "/download/demo/badge.json",
    "/pypi/v/demo": "/v/demo/badge.json",
    "/pypi/pyversions/demo": "/py_versions/demo/badge.json",
    "/pypi/implementation/demo": "/implementation/demo/badge.json",
    "/pypi/status/demo": "/status/demo/badge.json",
    "/pypi/wheel/demo": "/wheel/demo/badge.json",
    "/pypi/format/demo": "/format/demo/badge.json",
    "/pypi/l/demo": "/license/demo/badge.json",
    "/pypi/types/demo": "/types/demo/badge.json",
    "/pypi/djversions/demo": "/djversions/demo/badge.json",
    "/pypi/frameworkversions/Django/demo": "/djversions/demo/badge.json",
}


def test_shields_routes_say_what_their_pypipin_twins_say() -> None:
    stack = Stack()
    stack.upstream.add("demo", classifiers=CLASSIFIERS + DJANGO + ["Typing :: Typed", "Framework :: Wagtail :: 6"],
                       day=7, week=70, month=700)
    for shields, original in TWINS.items():
        assert stack.get(shields + ".json").body == stack.get(original).body, shields
        assert stack.get(shields).body == stack.get(shields + ".svg").body
    assert stack.get("/pypi/frameworkversions/wagtail/demo.json").shown == ["wagtail versions", "6"]
    assert stack.get("/pypi/types/demo.json").shown == ["types", "typed"]


def test_include_prereleases() -> None:
    stack = Stack()
    stack.upstream.add("demo", version="1.0.0", releases={"2.0.0b1": [release_file("demo", "2.0.0b1", "sdist")]})
    assert stack.get("/v/demo/badge.svg").shown == ["pypi", "v1.0.0"]
    assert json.loads(stack.get("/pypi/v/demo.json?include_prereleases").body)["color"] == "orange"
    assert stack.get("/v/demo/badge.svg?include_prereleases=1").shown == ["pypi", "v2.0.0b1"]


def test_overrides_reach_the_renderer(stack: Stack) -> None:
    stack.get("/v/demo/badge.png?style=social&label=ver&color=4c1&labelColor=blue&scale=3&n=1")
    (spec,) = stack.renderer.calls
    assert spec == {"label": "ver", "message": "v1.2.3", "color": "#44cc11", "labelColor": "blue", "style": "social",
                    "format": "png", "scale": 3, "logo": None}


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


def test_health_and_metrics(stack: Stack) -> None:
    stack.get("/v/demo/badge.svg")
    health = stack.get("/health")
    assert health.code == 200 and health.header("cache-control") == "no-store"
    assert json.loads(health.body) == {"renderer": "up", "renderer_problem": None, "cache": "in-process",
                                       "cache_error": None, "degraded": False,
                                       "last_upstream_success": {"pypi": stack.clock.seconds()},
                                       "indexes": {"pypi": stack.clock.seconds()}}
    metrics = stack.get("/metrics")  # from 127.0.0.1, which --metrics-allow lets in
    assert metrics.header("content-type").startswith("text/plain") and metrics.header("cache-control") == "no-store"
    assert b'pypipin_renders_total{outcome="ok"} 1.0' in metrics.body
    assert b'pypipin_upstream_total{outcome="ok",source="pypi"} 1.0' in metrics.body


def test_home_page_is_the_same_for_every_request_and_assets_are_not_listed(stack: Stack) -> None:
    page = stack.get("/?package=<script>")
    assert page.code == 200 and page.header("cache-control") == "public, max-age=300"
    assert page.body == stack.get("/").body  # the query is never reflected
    assert stack.get("/static/").code == 404  # (a file is sent by a producer on the real reactor: test_home)


def test_an_over_long_uri_is_a_414(stack: Stack) -> None:
    answer = stack.get("/v/demo/badge.svg?label=" + "x" * 9000)
    assert answer.code == 414 and stack.upstream.total() == 0


def test_per_request_state_names_badge_format_and_the_cache_layer(stack: Stack) -> None:
    seen = []
    render = stack.resource.render

    def watch(request):  # type: ignore[no-untyped-def]
        result = render(request)
        seen.append(state(request))
        return result

    stack.resource.render = watch  # type: ignore[method-assign]
    stack.get("/pypi/v/demo.png")
    stack.get("/pypi/v/demo.png")
    stack.get("/pypi/v/demo.png?n=1")  # the same badge: ?n= is read by no badge
    stack.get("/pypi/v/demo.png?style=plastic")  # another badge
    stack.get("/health")
    assert [(each.badge, each.format, each.cache) for each in seen] == [
        ("version", "png", "miss"), ("version", "png", "hot"), ("version", "png", "hot"),
        ("version", "png", "miss"), ("-", "-", "-")]
    assert all(each.started == stack.clock.seconds() for each in seen)


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


def test_parameters_no_badge_reads_do_not_grow_the_hot_path_or_push_others_out() -> None:
    stack = Stack("--cache-entries", "8")
    stack.upstream.add("demo")
    stack.upstream.add("other")
    assert stack.get("/v/other/badge.svg").shown == ["pypi", "v1.2.3"]
    assert stack.get("/v/demo/badge.svg").shown == ["pypi", "v1.2.3"]
    plain = stack.get("/v/demo/badge.svg?style=flat-square")
    drawn, fetched = len(stack.renderer.calls), stack.upstream.total()
    for n in range(20):
        junk = [f"x={n}", f"style=junk{n}", f"color=nope{n}&x={n}", f"scale={n}", f"cacheSeconds=-{n}",
                f"label=%01{n}", f"style=flat-square&x={n}", f"x={n}&style=flat-square&style=plastic"]
        for each in junk:
            assert stack.get(f"/v/demo/badge.svg?{each}").code == 200
    for _ in range(2):  # parsed the first time, remembered the second
        assert stack.get("/v/demo/badge.svg?x=1&style=flat-square").body == plain.body
    assert len(stack.hot) == 3  # other, demo, demo?style=flat-square: every junk URL is one of the last two
    assert (len(stack.renderer.calls), stack.upstream.total()) == (drawn, fetched)
    assert stack.counters.cache["hot", "hit"] == 20 * 8 + 2
    assert stack.get("/v/other/badge.svg?utm_source=x").shown == ["pypi", "v1.2.3"]
    assert stack.counters.cache["hot", "hit"] == 20 * 8 + 3


# hostile URLs, in memory: what reaches the renderer and PyPI is always clean
UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ufffe\uffff]")


@pytest.fixture(scope="module")
def hostile() -> Stack:
    # the input is on trial here, not the budgets
    made = Stack("--client-names", "1e6", "--client-renders", "1e6", "--global-renders", "1e6")
    made.upstream.add("pkg0")
    return made


def check_clean(stack: Stack, answer: Answer) -> None:
    """Any answer: no 5xx, no traceback; a badge's words and options are clean; PyPI asked only by normal names."""
    assert answer.code in (200, 400, 404, 414), answer
    assert b"Traceback" not in answer.body
    if answer.code == 200 and answer.header("content-type") != "application/json":
        spec = json.loads(answer.body)  # what the renderer was asked to draw
        assert not UNPRINTABLE.search(spec["label"] + spec["message"]) and len(spec["label"]) <= MAX_LABEL
        assert spec["style"] in STYLES and 1 <= spec["scale"] <= 4
        assert spec["logo"] is None or spec["logo"].startswith("data:image/svg+xml;base64,")
        for color in (spec["color"], spec["labelColor"]):
            assert color is None or color in NAMED_COLORS or HEX_COLOR.match(color), color
    assert all(NORMAL_UPSTREAM_PATH.match(path) for path in stack.upstream.requests), stack.upstream.requests


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(badge=st.sampled_from([*ORIGINAL_NAMES, "pypi", "nope", ""]), name=hostile_segment,
       extension=st.sampled_from(["svg", "json", "png", "SVG", "bmp", "svg%00", ""]), shields=st.booleans())
def test_hostile_paths(hostile: Stack, badge: str, name: str, extension: str, shields: bool) -> None:
    if shields:
        path = f"/pypi/{badge}/{name}" + (f".{extension}" if extension else "")
    else:
        path = f"/{badge}/{name}/badge.{extension}"
    check_clean(hostile, hostile.get(path, seconds=6))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(badge=st.sampled_from(["v", "wheel", "d", "license"]), fmt=st.sampled_from(["svg", "json", "png"]),
       params=st.lists(st.tuples(query_key, hostile_value), max_size=6))
def test_hostile_query_strings(hostile: Stack, badge: str, fmt: str, params: list[tuple[str, str]]) -> None:
    query = "&".join(quote(k, safe="") + "=" + quote(v, safe="") for k, v in params)
    path = f"/{badge}/pkg0/badge.{fmt}?{query}"
    assume(len(path) < 16000)  # past Twisted's 16 KiB head limit the connection is closed: test_hostile.py
    check_clean(hostile, hostile.get(path, seconds=6))
