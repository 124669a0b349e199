"""On the open internet (issue 10): floods from one loopback address (127.0.0.2) against the real
daemon, while another address (127.0.0.3) must still be served; connection and method limits;
headers and junk paths; Redis stays bounded under custom images."""

import os
import re
import socket
import subprocess
import time
import uuid
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
import treq
from treq.client import HTTPClient
from twisted.internet import defer, reactor
from twisted.web.client import Agent, HTTPConnectionPool

from pypipin.renderer.process import free_port
from tests.support.fakepypi import FakeUpstream
from tests.support.loopback import svg_text
from tests.support.processes import ROOT, Daemon, FakeUpstreamProcess, RedisServer, wait_for_port

pytestmark = pytest.mark.processes
ATTACKER, VICTIM = "127.0.0.2", "127.0.0.3"


def client_at(source: str) -> HTTPClient:
    """A treq client whose connections come from ``source`` (a loopback address)."""
    return HTTPClient(Agent(reactor, bindAddress=(source, 0), pool=HTTPConnectionPool(reactor)))


async def flood(client: HTTPClient, urls: list[str], concurrency: int = 16) -> list[tuple[int, bytes]]:
    slots = defer.DeferredSemaphore(concurrency)

    async def one(url: str) -> tuple[int, bytes]:
        response = await client.get(url)
        return response.code, await response.content()

    return await defer.gatherResults(
        [slots.run(lambda url=url: defer.ensureDeferred(one(url))) for url in urls]
    )


async def metric(daemon: Daemon, name: str, labels: str) -> float:
    body = await (await treq.get(daemon.url + "/metrics")).text()
    return sum(float(value) for value in re.findall(rf"^{name}\{{{labels}\}} (\S+)$", body, re.M))


@pytest_twisted.ensureDeferred
async def test_unknown_name_flood_costs_few_pypi_calls_and_spares_another_client(
    upstream: FakeUpstream, start_daemon: Any
) -> None:
    for n in range(5):
        upstream.add(f"real{n}", version=f"3.{n}.0")
    daemon = await start_daemon().ready()
    attacker, victim = client_at(ATTACKER), client_at(VICTIM)
    urls = [f"{daemon.url}/v/nopkg-{uuid.uuid4().hex}/badge.svg" for _ in range(400)]
    attack = defer.ensureDeferred(flood(attacker, urls))
    for n in range(5):  # while the flood goes on
        started = time.monotonic()
        response = await victim.get(f"{daemon.url}/v/real{n}/badge.svg")
        assert svg_text(await response.content()) == ["pypi", f"v3.{n}.0"]
        assert time.monotonic() - started < 3
    answers = await attack
    assert {code for code, _ in answers} == {200}
    assert upstream.total("/pypi/nopkg-") <= 60
    limited = [body for _, body in answers if svg_text(body) == ["pypipin", "rate limited"]]
    assert len(limited) >= 300


@pytest_twisted.ensureDeferred
async def test_random_download_names_do_not_drain_pypistats(
    upstream: FakeUpstream, start_daemon: Any
) -> None:
    for n in range(5):
        upstream.add(f"real{n}", month=(n + 1) * 1000)
    daemon = await start_daemon().ready()
    await flood(
        client_at(ATTACKER), [f"{daemon.url}/d/nopkg-{uuid.uuid4().hex}/badge.svg" for _ in range(100)]
    )
    assert upstream.total("/api/") == 0  # a name PyPI does not know never reaches pypistats
    for n in range(5):  # five clients' first downloads badges (one client's share of pypistats is 1 at once)
        response = await client_at(f"127.0.0.{3 + n}").get(f"{daemon.url}/d/real{n}/badge.svg")
        assert svg_text(await response.content()) == ["downloads", f"{n + 1}k/month"]


@pytest_twisted.ensureDeferred
async def test_over_budget_is_one_generic_cached_image(upstream: FakeUpstream, start_daemon: Any) -> None:
    upstream.add("demo")
    daemon = await start_daemon("none", "--client-renders", "3", "--refusal-delay", "0.2").ready()
    attacker = client_at(ATTACKER)
    answers = []
    started = time.monotonic()
    for n in range(12):
        response = await attacker.get(
            f"{daemon.url}/v/demo/badge.svg?label=custom{n}&color=red&style=plastic"
        )
        answers.append((response, svg_text(await response.content())))
    drawn = [texts for _, texts in answers if texts[0].startswith("custom")]
    refused = [(response, texts) for response, texts in answers if texts == ["pypipin", "rate limited"]]
    assert len(drawn) == 3 and len(drawn) + len(refused) == 12
    assert time.monotonic() - started >= 9 * 0.1  # each refusal waited --refusal-delay, at least half of it
    assert all(
        response.headers.getRawHeaders(b"Cache-Control") == [b"private, no-store"] for response, _ in refused
    )
    assert (
        await metric(daemon, "pypipin_renders_total", 'outcome="ok"') == 4
    )  # 3 custom + the one refusal image
    victim = client_at(VICTIM)  # its own budget
    response = await victim.get(f"{daemon.url}/v/demo/badge.svg?label=mine")
    assert svg_text(await response.content()) == ["mine", "v1.2.3"]


@pytest_twisted.ensureDeferred
async def test_trusted_proxy_names_the_client(upstream: FakeUpstream, start_daemon: Any) -> None:
    upstream.add("demo")
    daemon = await start_daemon("none", "--client-renders", "1", "--trusted-proxy", ATTACKER).ready()
    proxy, direct = client_at(ATTACKER), client_at(VICTIM)

    async def label(client: HTTPClient, text: str, forwarded: str) -> list[str]:
        response = await client.get(
            f"{daemon.url}/v/demo/badge.svg?label={text}", headers={"X-Forwarded-For": forwarded}
        )
        return svg_text(await response.content())

    assert (await label(proxy, "a1", "198.51.100.1"))[0] == "a1"
    assert (await label(proxy, "b1", "198.51.100.2"))[0] == "b1"  # another client behind the proxy
    started = time.monotonic()
    assert (await label(proxy, "a2", "6.6.6.6, 198.51.100.1"))[0] == "pypipin"  # a forged hop changes nothing
    proxied = time.monotonic() - started
    assert (await label(direct, "c1", "203.0.113.1"))[0] == "c1"
    started = time.monotonic()
    assert (await label(direct, "c2", "203.0.113.2"))[0] == "pypipin"  # not a trusted proxy: header ignored
    assert proxied < 0.5 <= time.monotonic() - started  # --refusal-delay (1 s +-50%): direct clients only


@pytest.fixture
def quiet_daemon() -> Any:
    upstream = FakeUpstreamProcess(3)
    started: list[Daemon] = []

    def start(*extra: str, nofile: int | None = None) -> Daemon:
        daemon = Daemon(upstream.url, "none", *extra, nofile=nofile)
        started.append(daemon)
        wait_for_port(daemon.port)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()
    upstream.stop()


def victim_get(daemon: Daemon, path: str, timeout: float = 3) -> tuple[int, dict[str, str], bytes]:
    connection = HTTPConnection("127.0.0.1", daemon.port, timeout=timeout, source_address=(VICTIM, 0))
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_idle_sockets_from_one_address_do_not_lock_out_another(quiet_daemon: Any) -> None:
    daemon = quiet_daemon(nofile=1024)
    assert victim_get(daemon, "/v/pkg1/badge.svg", timeout=30)[0] == 200  # renderer up, badge cached
    held = []
    try:
        for _ in range(1100):
            sock = socket.socket()
            sock.bind((ATTACKER, 0))
            sock.settimeout(2)
            try:
                sock.connect(("127.0.0.1", daemon.port))
            except OSError:
                sock.close()
                continue
            held.append(sock)
        deadline = time.monotonic() + 15
        checks = 0
        while time.monotonic() < deadline:
            started = time.monotonic()
            assert victim_get(daemon, "/v/pkg1/badge.svg")[0] == 200
            assert time.monotonic() - started < 3
            checks += 1
            time.sleep(1)
        assert checks >= 10
    finally:
        for sock in held:
            sock.close()
    assert "EMFILE" not in daemon.log_text() and "Too many open files" not in daemon.log_text()


def test_a_1_gib_post_is_refused_from_its_head(quiet_daemon: Any) -> None:
    daemon = quiet_daemon()
    with socket.create_connection(
        ("127.0.0.1", daemon.port), timeout=5, source_address=(ATTACKER, 0)
    ) as sock:
        started = time.monotonic()
        sock.sendall(
            b"POST /v/pkg1/badge.svg HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n" + b"x" * 65536
        )
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:  # closed with our unread body in its buffer: the answer came first
            pass
        assert time.monotonic() - started < 3
    assert answer.startswith(b"HTTP/1.1 405 ") and b"\r\nAllow: GET, HEAD\r\n" in answer
    files = [os.readlink(fd) for fd in Path(f"/proc/{daemon.process.pid}/fd").iterdir()]
    assert not [name for name in files if name.startswith(("/tmp/tmp", "/var/tmp/"))]  # no body spooled
    for method in ("PUT", "DELETE", "FOO"):
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
            sock.sendall(method.encode() + b" /v/pkg1/badge.svg HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 405 ")


def test_headers_and_junk_paths(quiet_daemon: Any) -> None:
    daemon = quiet_daemon()
    status, headers, _ = victim_get(daemon, "/v/pkg1/badge.svg", timeout=30)
    assert status == 200 and headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"] == "default-src 'none'; style-src 'unsafe-inline'"
    for path in (
        "/v/pkg1/badge.png",
        "/nope",
        "/static/x%00",
        "/v/%ff%fe/badge.svg",
        "/v/pkg1%00/badge.svg",
        "/pypi/v/%c3%28",
        "/",
    ):
        status, headers, body = victim_get(daemon, path, timeout=30)
        assert 200 <= status < 500 and headers["x-content-type-options"] == "nosniff", path
        assert b"Traceback" not in body
    assert "Traceback" not in daemon.log_text()


@pytest_twisted.ensureDeferred
async def test_custom_images_do_not_grow_redis(
    upstream: FakeUpstream, redis: RedisServer, start_daemon: Any
) -> None:
    upstream.add("demo")
    daemon = await start_daemon(redis.url, "--client-renders", "100000", "--global-renders", "100000").ready()
    client = client_at(ATTACKER)
    await flood(client, [f"{daemon.url}/v/demo/badge.tiff?scale=4"])  # summary and a shared image stored
    before = int(re.search(r"used_memory:(\d+)", redis.command("INFO", "memory")).group(1))
    answers = await flood(
        client, [f"{daemon.url}/v/demo/badge.tiff?scale=4&label=l{n}" for n in range(300)], 8
    )
    assert {code for code, _ in answers} == {200} and len({body for _, body in answers}) == 300
    after = int(re.search(r"used_memory:(\d+)", redis.command("INFO", "memory")).group(1))
    assert after - before <= 5 * 2**20


def test_shipped_redis_conf_bounds_memory(tmp_path: Path) -> None:
    if not RedisServer.available:
        pytest.skip("redis-server is not installed")
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", str(ROOT / "conf" / "redis.conf"), "--port", str(port), "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)

        def config(name: str) -> str:
            return subprocess.run(
                ["redis-cli", "-p", str(port), "CONFIG", "GET", name],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()[1]

        assert int(config("maxmemory")) == 256 * 2**20 and config("maxmemory-policy") == "allkeys-lru"
        assert config("appendonly") == "no"
    finally:
        server.kill()
        server.wait()
