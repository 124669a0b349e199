"""The routes in memory (tests/support/stack.py's Stack): 404, 400 and 414, caching headers, HEAD, formats,
the JSON endpoint, shields.io twins, /health, the home page, per-request state, hostile paths and queries."""

import json
import re
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pypipin.badges.kinds import ORIGINAL_NAMES
from pypipin.badges.parsing import HEX_COLOR, MAX_LABEL, NAMED_COLORS, STYLES
from pypipin.web.state import state
from tests.support.hostile import NORMAL_UPSTREAM_PATH, hostile_segment, hostile_value, query_key
from tests.support.stack import CLASSIFIERS, DJANGO, Answer, Stack


@pytest.mark.parametrize(
    "path",
    [
        "/nope/demo/badge.svg",
        "/v/demo/badge.bmp",
        "/v/demo",
        "/pypi/nope/demo",
        "/pypi/frameworkversions/demo",
    ],
)
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
    assert "max-age=300," in stack.get("/v/demo/badge.svg").header("cache-control")
    assert "max-age=7200," in stack.get("/v/demo/badge.svg?cacheSeconds=7200").header("cache-control")
    assert "max-age=3600," in stack.get("/wheel/demo/badge.svg?cacheSeconds=5").header("cache-control")


def test_head_is_answered_like_get_without_a_body(stack: Stack) -> None:
    for _ in range(2):  # app, then hot path
        answer = stack.get("/v/demo/badge.svg", method="HEAD")
        assert answer.code == 200 and answer.body == b"" and answer.header("etag")


@pytest.mark.parametrize(
    "ext, content_type",
    [("svg", "image/svg+xml;charset=utf-8"), ("png", "image/png"), ("json", "application/json")],
)
def test_formats_and_their_content_types(stack: Stack, ext: str, content_type: str) -> None:
    answer = stack.get(f"/v/demo/badge.{ext}")
    assert answer.code == 200 and answer.header("content-type") == content_type


def test_json_endpoint_schema(stack: Stack) -> None:
    assert json.loads(stack.get("/pypi/v/demo.json").body) == {
        "schemaVersion": 1,
        "label": "pypi",
        "message": "v1.2.3",
        "color": "blue",
        "isError": False,
    }
    assert json.loads(stack.get("/v/ghost/badge.json").body) == {
        "schemaVersion": 1,
        "label": "pypi",
        "message": "not found",
        "color": "red",
        "isError": True,
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
    stack.upstream.add(
        "demo",
        classifiers=CLASSIFIERS + DJANGO + ["Typing :: Typed", "Framework :: Wagtail :: 6"],
        day=7,
        week=70,
        month=700,
    )
    for shields, original in TWINS.items():
        assert stack.get(shields + ".json").body == stack.get(original).body, shields
        assert stack.get(shields).body == stack.get(shields + ".svg").body
    assert stack.get("/pypi/frameworkversions/wagtail/demo.json").shown == ["wagtail versions", "6"]
    assert stack.get("/pypi/types/demo.json").shown == ["types", "typed"]


def test_health_and_metrics(stack: Stack) -> None:
    stack.get("/v/demo/badge.svg")
    health = stack.get("/health")
    assert health.code == 200 and health.header("cache-control") == "no-store"
    assert json.loads(health.body) == {
        "renderer": "up",
        "renderer_problem": None,
        "cache": "in-process",
        "cache_error": None,
        "redis_master": None,
        "degraded": False,
        "last_upstream_success": {"pypi": stack.clock.seconds()},
        "indexes": {"pypi": stack.clock.seconds()},
        "feeds": {"pypi": {"mode": "fallback", "last_read": None, "since": None}},  # its poller not started
        "fleet": 1,
    }
    metrics = stack.get("/metrics")  # from 127.0.0.1, which --metrics-allow lets in
    assert (
        metrics.header("content-type").startswith("text/plain")
        and metrics.header("cache-control") == "no-store"
    )
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
        ("version", "png", "miss"),
        ("version", "png", "hot"),
        ("version", "png", "hot"),
        ("version", "png", "miss"),
        ("-", "-", "-"),
    ]
    assert all(each.started == stack.clock.seconds() for each in seen)


# hostile URLs, in memory: what reaches the renderer and PyPI is always clean
UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ufffe\uffff]")


@pytest.fixture(scope="module")
def hostile() -> Stack:
    # the input is on trial here, not the budgets
    made = Stack("--client-names", "1e6", "--client-renders", "1e6", "--global-renders", "1e6")
    made.upstream.add("pkg0")
    return made


def check_clean(stack: Stack, answer: Answer) -> None:
    """Any answer: no 5xx, no traceback; a badge's words and options are clean; PyPI asked only by normal
    names."""
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
@given(
    badge=st.sampled_from([*ORIGINAL_NAMES, "pypi", "nope", ""]),
    name=hostile_segment,
    extension=st.sampled_from(["svg", "json", "png", "SVG", "bmp", "svg%00", ""]),
    shields=st.booleans(),
)
def test_hostile_paths(hostile: Stack, badge: str, name: str, extension: str, shields: bool) -> None:
    if shields:
        path = f"/pypi/{badge}/{name}" + (f".{extension}" if extension else "")
    else:
        path = f"/{badge}/{name}/badge.{extension}"
    check_clean(hostile, hostile.get(path, seconds=6))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    badge=st.sampled_from(["v", "wheel", "d", "license"]),
    fmt=st.sampled_from(["svg", "json", "png"]),
    params=st.lists(st.tuples(query_key, hostile_value), max_size=6),
)
def test_hostile_query_strings(hostile: Stack, badge: str, fmt: str, params: list[tuple[str, str]]) -> None:
    query = "&".join(quote(k, safe="") + "=" + quote(v, safe="") for k, v in params)
    path = f"/{badge}/pkg0/badge.{fmt}?{query}"
    assume(len(path) < 16000)  # past Twisted's 16 KiB head limit the connection is closed: test_hostile.py
    check_clean(hostile, hostile.get(path, seconds=6))


def test_health_is_not_degraded_on_a_cache_of_this_process_only() -> None:
    stack = Stack()
    state = json.loads(stack.get("/health").body)
    assert (state["cache"], state["cache_error"], state["degraded"]) == ("in-process", None, False)


def test_shields_text_in_both_url_forms_and_every_format(stack: Stack) -> None:
    """The rules' words and colours reach every form and format alike: a public-domain licence's hex
    colour, addv's bare text, and shields.io's own label for framework versions that are missing."""
    stack.upstream.add("pd-tool", version="nightly-2013", license="Unlicense")
    for path in ("/license/pd-tool/badge.json", "/pypi/l/pd-tool.json", "/pypi/l/PD_Tool.json"):
        document = json.loads(stack.get(path).body)
        assert (document["label"], document["message"], document["color"]) == (
            "license",
            "Unlicense",
            "#7cd958",
        )
    for path in ("/v/pd-tool/badge.json", "/pypi/v/pd-tool.json"):
        assert stack.get(path).shown == ["pypi", "nightly-2013"], path
    for path, spelt in (
        ("/djversions/PD.Tool/badge.svg", "PD.Tool"),
        ("/pypi/djversions/pd-tool.png", "pd-tool"),
        ("/pypi/frameworkversions/django/pd_tool.json", "pd_tool"),
    ):
        assert stack.get(path).shown == ["versions", f"Django versions are missing for {spelt}"], path
    assert stack.get("/djversions/PD.Tool/badge.svg?label=dj").shown[0] == "dj"  # ?label= still wins
