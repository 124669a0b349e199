"""Hostile inputs: hypothesis strategies for paths and queries, the upstream paths allowed, /metrics as an
attacker writes it."""

import re
from urllib.parse import quote

from hypothesis import strategies as st

# hostile inputs for property tests (hypothesis), in memory and against a real daemon
hostile_segment = st.one_of(
    st.text(max_size=40).map(lambda text: quote(text, safe="")),
    st.text(alphabet=st.characters(codec="latin-1"), max_size=30).map(lambda text: quote(text, safe="/%.")),
    st.sampled_from(
        [
            "..",
            "%2e%2e",
            "%2F",
            "a%2Fb",
            "%00",
            "%0d%0aSet-Cookie:%20x=1",
            "%ff%fe",
            "zope.interface",
            "Django",
            "pkg0",
            "PKG_0",
            "<svg onload=alert(1)>",
            "x" * 10000,
            "%",
            "%zz",
        ]
    ),
)


hostile_value = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "<script>alert(1)</script>",
            '" onload="x',
            "]]>&amp;",
            "%ff",
            "\x00",
            "a\r\nb",
            "x" * 5000,
            "flat",
            "for-the-badge",
            "red",
            "#4c1",
            "4",
            "-1",
            "99999999999999999999",
            "data:image/svg+xml;base64,PHN2Zz4=",
            "javascript:alert(1)",
            "\u202e\u0000\ufeff",
        ]
    ),
)


query_key = st.sampled_from(
    [
        "style",
        "label",
        "text",
        "color",
        "colorA",
        "colorB",
        "labelColor",
        "cacheSeconds",
        "period",
        "scale",
        "logo",
        "include_prereleases",
        "junk",
        "",
    ]
)


# PyPI and pypistats are asked by normal names only
NORMAL_UPSTREAM_PATH = re.compile(
    r"^/(pypi/[a-z0-9]+(-[a-z0-9]+)*/json|simple/[a-z0-9]+(-[a-z0-9]+)*/|api/packages/[a-z0-9]+(-[a-z0-9]+)*/recent|rss/updates\.xml)$"
)


# /metrics as an attacker writes it (raw request targets): the app routes //, %2f, \ and %6d to it
METRICS_TARGETS = [
    b"/metrics",
    b"//metrics",
    b"///metrics",
    b"/%6detrics",
    b"/%6Detrics",
    b"/%2fmetrics",
    b"/%2Fmetrics",
    b"\\metrics",
    b"/metrics/",
    b"/./metrics",
    b"/%2e/metrics",
    b"/a/../metrics",
    b"/metrics?x",
    b"/metrics?",
    b"/metrics#x",
    b"/METRICS",
    b"/Metrics",
    b"/%4detrics",
    b"/metrics;x",
    b"/metrics%20",
    b"/%256detrics",
    b"http://badges.test/metrics",
]
