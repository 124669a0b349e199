"""Several indexes: configuration, choosing one per request, their own cache entries in memory, and
credentials that go to their host only."""

import base64
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor, task
from twisted.python import usage
from twisted.web import resource

from pypipin.badges.parsing import parse
from pypipin.data.keys import KEY_PREFIX
from pypipin.upstream import indexes
from pypipin.upstream.client import Unavailable, Upstream, connect
from tests.support.fakepypi import SECRET, FakeUpstream, PrivateIndex
from tests.support.loopback import serve
from tests.support.stack import Stack, parsed


def test_credentials_become_a_basic_header_and_leave_the_url() -> None:
    index = indexes.pair(f"corp=https://ci-bot:{SECRET}%40x@Nexus.example.com:8443/repository/pypi/pypi/")
    assert index.url == "https://Nexus.example.com:8443/repository/pypi/pypi"
    assert index.headers == {b"Authorization": b"Basic " + base64.b64encode(f"ci-bot:{SECRET}@x".encode())}
    assert SECRET not in repr(index) and SECRET not in str(index)
    token = indexes.pair(
        "gitlab=https://__token__:glpat-123@gitlab.example.com/api/v4/projects/4/packages/pypi"
    )
    assert token.headers[b"Authorization"] == b"Basic " + base64.b64encode(b"__token__:glpat-123")
    assert indexes.pair("plain=http://127.0.0.1:3141/root/pypi").headers == {}


@pytest.mark.parametrize(
    "text",
    [
        f"corp=ftp://u:{SECRET}@host/pypi",
        f"corp=https://u:{SECRET}@host:port/pypi",
        f"Corp=https://u:{SECRET}@h/p",
        f"pypi=https://u:{SECRET}@h/p",
        f"stats=https://u:{SECRET}@h/p",
        f"corp https://u:{SECRET}@h/p",
        f"corp=https://u:{SECRET}@/pypi",
        f"corp=https://u:{SECRET}@h/p?x=1",
    ],
)
def test_a_bad_index_is_refused_without_quoting_its_secret(text: str) -> None:
    with pytest.raises(usage.UsageError) as refused:
        parsed("--index", text)
    assert SECRET not in str(refused.value) and "--index" in str(refused.value)


def test_index_option_environment_and_file(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    listed = tmp_path / "indexes"
    listed.write_text(f"# our indexes\n\ncorp https://bot:{SECRET}@corp.example/pypi\n")
    listed.chmod(0o600)
    monkeypatch.setenv("PYPIPIN_INDEX", "dev=http://127.0.0.1:3141/root/pypi  test=http://127.0.0.2/pypi")
    options = parsed(
        "--index",
        "one=https://one.example/pypi",
        "--index-file",
        str(listed),
        "--pypi-url",
        "https://pypi.org/pypi/",
    )
    assert {name: index.url for name, index in options["indexes"].items()} == {
        "pypi": "https://pypi.org/pypi",
        "dev": "http://127.0.0.1:3141/root/pypi",
        "test": "http://127.0.0.2/pypi",
        "one": "https://one.example/pypi",
        "corp": "https://corp.example/pypi",
    }
    assert options["indexes"]["corp"].headers and not options["indexes"]["one"].headers
    listed.write_text(f"corp https://bot:{SECRET}@corp.example/pypi\ncorp https://other.example/pypi\n")
    with pytest.raises(usage.UsageError, match="configured twice") as twice:
        parsed("--index-file", str(listed))
    listed.write_text(f"corp\thttps://bot:{SECRET}@corp.example/pypi\n")
    with pytest.raises(usage.UsageError, match="line 1") as bad:
        parsed("--index-file", str(listed))
    assert SECRET not in str(twice.value) + str(bad.value)


CONFIGURED = {
    "pypi": indexes.index("pypi", "https://pypi.org/pypi"),
    "corp": indexes.pair(f"corp=https://bot:{SECRET}@nexus.example.com/repository/pypi/pypi"),
}


@pytest.mark.parametrize(
    "path, query, index",
    [
        (b"/v/klein/badge.svg", {}, "pypi"),
        (b"/v/klein/badge.svg", {"index": "corp"}, "corp"),
        (b"/pypi/v/klein.json", {"index": "corp"}, "corp"),
        (b"/pypi/v/klein", {"index": "pypi"}, "pypi"),
        (b"/pypi/v/klein", {"index": "nope"}, None),
        (b"/pypi/v/klein", {"index": ""}, None),
        (b"/pypi/v/klein", {"index": "CORP"}, None),
        (b"/pypi/v/klein", {"pypiBaseUrl": "https://nexus.example.com/repository/pypi/pypi"}, "corp"),
        (
            b"/pypi/v/klein",
            {"pypiBaseUrl": "https://nexus.example.com/repository/pypi/"},
            "corp",
        ),  # shields' form
        (
            b"/pypi/v/klein",
            {"pypiBaseUrl": f"https://bot:{SECRET}@nexus.example.com/repository/pypi"},
            "pypi",
        ),
        (b"/pypi/v/klein", {"pypiBaseUrl": "https://evil.example/pypi"}, "pypi"),  # ignored, never fetched
        (b"/pypi/v/klein", {"pypiBaseUrl": "https://pypi.org"}, "pypi"),
        (b"/pypi/v/klein", {"index": "nope", "pypiBaseUrl": "https://pypi.org"}, None),
    ],
)
def test_a_request_picks_a_configured_index_or_none(
    path: bytes, query: dict[str, str], index: str | None
) -> None:
    wanted = parse(path, query, CONFIGURED)
    assert wanted is not None and wanted.index == index


class ByHost(resource.Resource):
    """Two upstreams in memory, told apart by the Host a request is sent to."""

    isLeaf = True

    def __init__(self, hosts: dict[bytes, resource.Resource]) -> None:
        super().__init__()
        self.hosts = hosts

    def render(self, request: Any) -> Any:
        return self.hosts[request.getRequestHostname()].render(request)


def test_in_memory_each_index_has_its_own_cache_entries_flights_and_pauses() -> None:
    clock = task.Clock()
    public, private = FakeUpstream(clock), PrivateIndex("ci-bot", SECRET, clock)
    stack = Stack(
        "--index",
        f"corp=http://ci-bot:{SECRET}@corp.test/pypi",
        clock=clock,
        upstream=ByHost({b"pypi.test": public, b"corp.test": private}),
    )  # type: ignore[arg-type]
    public.add("klein", version="24.8.0")
    private.add("klein", version="99.0.0")
    answers = stack.burst(
        [f"/v/klein/badge.svg?n={n}" for n in range(5)]
        + [f"/pypi/v/klein.json?index=corp&n={n}" for n in range(5)]
    )
    assert [answer.shown for answer in answers] == [["pypi", "v24.8.0"]] * 5 + [["pypi", "v99.0.0"]] * 5
    assert public.requests["/pypi/klein/json"] == private.requests["/pypi/klein/json"] == 1
    assert private.authorizations == [private.expected]
    assert stack.store.lru.get(KEY_PREFIX + "corp:klein") and stack.store.lru.get(KEY_PREFIX + "pypi:klein")

    # a 429 from one index pauses that index alone
    private.fault = "429"  # Retry-After: 30
    assert stack.get("/v/internal-tool/badge.svg?index=corp").shown == ["pypi", "rate limited"]
    private.fault = None
    public.add("flask", version="3.1.0")
    private.add("flask", version="0.0.1")
    assert stack.get("/v/flask/badge.svg?index=corp").shown == ["pypi", "rate limited"]
    assert stack.get("/v/flask/badge.svg").shown == ["pypi", "v3.1.0"]
    stack.advance(31)
    assert stack.get("/v/flask/badge.svg?index=corp&again").shown == ["pypi", "v0.0.1"]

    # no fetch at all for an index not configured, nor for downloads elsewhere
    before = public.total() + private.total()
    unknown = stack.get("/v/klein/badge.svg?index=nope")
    assert unknown.shown == ["pypi", "unknown index"] and "max-age=3600," in unknown.header("cache-control")
    assert stack.get("/d/klein/badge.svg?index=corp").shown == ["downloads", "n/a"]
    assert public.total() + private.total() == before
    assert stack.counters.upstream["corp", "rate_limited"] == 1 and stack.counters.upstream["corp", "ok"] == 2


@pytest_twisted.ensureDeferred
async def test_credentials_go_to_their_host_only_not_across_a_redirect(private: PrivateIndex) -> None:
    elsewhere = PrivateIndex("ci-bot", SECRET)  # another origin, that would take the same password
    port = serve(elsewhere)
    try:
        private.add("klein", version="99.0.0")
        private.moved["/pypi/moved/json"] = f"{elsewhere.url}/pypi/moved/json"
        elsewhere.add("moved")
        http, pool = connect(reactor, 5.0)
        host = private.url.removeprefix("http://")
        client = Upstream(
            reactor,
            http,
            indexes.configured(
                "http://127.0.0.9/pypi", [indexes.pair(f"corp=http://ci-bot:{SECRET}@{host}/pypi")]
            ),
            "http://127.0.0.9/api",
            5.0,
        )
        assert (await client.pypi("klein", index="corp")).value["version"] == "99.0.0"
        with pytest.raises(Unavailable, match="HTTP 401") as refused:
            await client.pypi("moved", index="corp")
        assert private.authorizations == [private.expected] * 2
        assert elsewhere.authorizations == [None]  # Twisted dropped it on the way to another host
        assert SECRET not in str(refused.value)
        await pool.closeCachedConnections()
    finally:
        await port.stopListening()


def test_an_index_may_name_its_update_feed(tmp_path: Path) -> None:
    assert indexes.pair("corp=https://u:p@corp.test/pypi|https://corp.test/rss/updates.xml").feed == (
        "https://corp.test/rss/updates.xml"
    )
    assert indexes.pair("corp=https://corp.test/pypi").feed is None
    with pytest.raises(ValueError, match="feed URL"):
        indexes.pair("corp=https://corp.test/pypi|ftp://corp.test/feed")
    listed = tmp_path / "indexes"
    listed.write_text(
        "corp https://corp.test/pypi https://corp.test/rss/updates.xml\ndevpi https://devpi.test/pypi\n"
    )
    assert [each.feed for each in indexes.read_file(str(listed))] == [
        "https://corp.test/rss/updates.xml",
        None,
    ]
