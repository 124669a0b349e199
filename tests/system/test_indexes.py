"""A private index beside PyPI served by a real daemon, whose password never shows; node started without the
daemon's environment."""

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer

from tests.support import documents
from tests.support.fakepypi import SECRET, FakeUpstream, PrivateIndex
from tests.support.loopback import get, svg_text


@pytest.mark.processes
@pytest_twisted.ensureDeferred
async def test_a_private_index_beside_pypi(
    upstream: FakeUpstream,
    private: PrivateIndex,
    redis: Any,
    start_daemon: Any,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    upstream.add("klein", version="24.8.0")
    private.add("klein", version="99.0.0")  # the same name as a public package, another version
    private.packages["internal-tool"] = documents.private_index(
        "internal-tool"
    )  # 3.1.0, no vulnerabilities key
    host = private.url.removeprefix("http://")
    listed = tmp_path / "indexes"
    listed.write_text(f"corp http://ci-bot:{SECRET}@{host}/pypi\n")
    listed.chmod(0o600)
    wrong_host = host.replace("127.0.0.1", "localhost")  # another URL: pypiBaseUrl picks one index
    monkeypatch.setenv("PYPIPIN_INDEX", f"wrong=http://ci-bot:not-{SECRET}@{wrong_host}/pypi")
    daemon = await start_daemon(redis.url, "--index-file", str(listed)).ready()
    seen: list[bytes] = []

    async def shown(path: str) -> list[str]:
        response, body = await get(daemon.url + path)
        assert response.code == 200, path
        seen.append(body)
        return (
            svg_text(body)
            if body.startswith(b"<svg")
            else [json.loads(body)["label"], json.loads(body)["message"]]
        )

    # one burst on each index: one fetch each, the two kept apart
    bursts = [shown(f"/v/klein/badge.svg?style=flat-square&n={n}") for n in range(5)]
    bursts += [shown(f"/v/klein/badge.svg?index=corp&n={n}") for n in range(5)]
    answers = await defer.gatherResults([defer.ensureDeferred(each) for each in bursts])
    assert answers == [["pypi", "v24.8.0"]] * 5 + [["pypi", "v99.0.0"]] * 5
    assert upstream.requests["/pypi/klein/json"] == 1 and private.requests["/pypi/klein/json"] == 1
    keys = redis.command("KEYS", "pypipin:2:*:klein").split()
    assert sorted(keys) == ["pypipin:2:corp:klein", "pypipin:2:pypi:klein"]

    assert await shown("/pypi/v/klein?index=corp") == ["pypi", "v99.0.0"]
    assert await shown(f"/pypi/v/klein.json?pypiBaseUrl={private.url}/pypi") == ["pypi", "v99.0.0"]
    assert await shown("/pypi/v/klein?pypiBaseUrl=http://127.0.0.9/pypi") == ["pypi", "v24.8.0"]
    assert await shown("/v/internal-tool/badge.svg?index=corp") == ["pypi", "v3.1.0"]
    assert await shown("/pypi/v/internal-tool") == ["pypi", "not found"]
    assert await shown("/vulnerabilities/internal-tool/badge.svg?index=corp") == [
        "vulnerabilities",
        "unknown",
    ]
    assert await shown("/pypi/dm/internal-tool?index=corp") == ["downloads", "n/a"]
    assert upstream.total("/api/") == 0

    # a name not configured: never a fall-back to pypi.org
    before = upstream.total() + private.total()
    response, body = await get(daemon.url + "/v/klein/badge.svg?index=nope")
    assert (
        svg_text(body) == ["pypi", "unknown index"]
        and b"max-age=3600," in response.headers.getRawHeaders(b"cache-control")[0]
    )
    assert json.loads((await get(daemon.url + "/pypi/v/klein.json?index=nope"))[1])["color"] == "red"
    assert upstream.total() + private.total() == before

    # refused credentials: logged without them, and the badge says unavailable
    assert await shown("/v/internal-tool/badge.svg?index=wrong") == ["pypi", "unavailable"]
    log = daemon.log_text()
    assert (
        f"Upstream wrong failed for internal-tool: http://{wrong_host}/pypi/internal-tool/json: HTTP 401"
        in log
    )
    assert private.authorizations.count(private.expected) == 2

    health = json.loads((await get(daemon.url + "/health"))[1])
    assert set(health["indexes"]) == {"pypi", "corp", "wrong"} and health["indexes"]["wrong"] is None
    assert health["indexes"]["corp"] > 0
    metrics = (await get(daemon.url + "/metrics"))[1].decode()
    assert 'pypipin_upstream_total{outcome="ok",source="corp"} 2.0' in metrics
    assert 'pypipin_upstream_total{outcome="error",source="wrong"} 1.0' in metrics
    page = (await get(daemon.url + "/"))[1].decode()
    assert "<option>corp</option>" in page and "<option>wrong</option>" in page
    assert host not in page and wrong_host not in page

    # the password, and its Basic form, nowhere the test can read
    basic = base64.b64encode(f"ci-bot:{SECRET}".encode()).decode()
    readable = "\n".join([daemon.log_text(), json.dumps(health), metrics, page, *(b.decode() for b in seen)])
    for secret in (SECRET, basic, base64.b64encode(f"ci-bot:not-{SECRET}".encode()).decode()):
        assert secret not in readable
    with open(f"/proc/{daemon.process.pid}/cmdline", "rb") as command_line:
        assert SECRET.encode() not in command_line.read()


@pytest.mark.processes
@pytest_twisted.ensureDeferred
async def test_node_starts_without_the_daemons_environment(
    start_daemon: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """node parses untrusted specs: it gets PATH, HOME and the like, never PYPIPIN_* or a credential."""
    monkeypatch.setenv("PYPIPIN_INDEX", f"corp=http://alice:{SECRET}@127.0.0.1:9/pypi")
    monkeypatch.setenv("CLOUD_TOKEN", SECRET)
    daemon = await start_daemon().drawing()
    [node] = daemon.children()
    entries = Path(f"/proc/{node}/environ").read_bytes().split(b"\0")
    environ = dict(entry.split(b"=", 1) for entry in entries if entry)
    assert SECRET.encode() in Path(f"/proc/{daemon.process.pid}/environ").read_bytes()  # the daemon has it
    assert b"node" in Path(f"/proc/{node}/cmdline").read_bytes()
    assert SECRET.encode() not in b"\0".join(environ.values())
    assert not [name for name in environ if name.startswith(b"PYPIPIN_") or name == b"CLOUD_TOKEN"]
    assert environ[b"PATH"] == os.environ["PATH"].encode() and environ[b"MALLOC_ARENA_MAX"] == b"2"
