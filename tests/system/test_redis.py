"""Redis as operators run it: TLS with a private CA, ACL users, a password kept off the command
line, and what each failure looks like in /health and in the log."""

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor

from pypipin.renderer.process import free_port
from tests.support.fakepypi import FakeUpstream
from tests.support.loopback import get, sleep, svg_text
from tests.support.processes import RedisServer

pytestmark = pytest.mark.processes

USER = ["--user", "badges", "on", ">s3cret", "~pypipin:*", "+@all"]  # an ACL user limited to our keys


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private CA and a certificate it signed for 127.0.0.1, made with openssl."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=pypipin test CA",
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    )
    (folder / "san").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san",
    )
    return folder


@pytest.fixture
def tls_redis(certificates: Path) -> Iterator[RedisServer]:
    """redis-server with a TLS port (no client certificates) and an ACL user; its plain port is for
    redis-cli."""
    if not RedisServer.available:
        pytest.skip("redis-server is not installed")
    tls_port = free_port()
    server = RedisServer(
        "--tls-port",
        str(tls_port),
        "--tls-cert-file",
        str(certificates / "server.pem"),
        "--tls-key-file",
        str(certificates / "server.key"),
        "--tls-ca-cert-file",
        str(certificates / "ca.pem"),
        "--tls-auth-clients",
        "no",
        *USER,
    )
    server.tls_port = tls_port  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture
def acl_redis() -> Iterator[RedisServer]:
    if not RedisServer.available:
        pytest.skip("redis-server is not installed")
    server = RedisServer(*USER)
    yield server
    server.stop()


async def health(url: str) -> tuple[int, dict]:
    response, body = await get(url + "/health")
    return response.code, json.loads(body)


def our_keys(redis: RedisServer) -> list[str]:
    return redis.command("KEYS", "pypipin:*").split()


@pytest_twisted.ensureDeferred
async def test_rediss_with_a_private_ca_as_an_acl_user_with_a_password_file(
    upstream: FakeUpstream, tls_redis: RedisServer, certificates: Path, start_daemon, tmp_path: Path
) -> None:
    upstream.add("demo")
    secret = tmp_path / "redis-password"
    secret.write_text("s3cret\n")
    secret.chmod(0o600)
    port = tls_redis.tls_port  # type: ignore[attr-defined]
    daemon = await start_daemon(
        f"rediss://badges@127.0.0.1:{port}/0",
        "--redis-ca",
        str(certificates / "ca.pem"),
        "--redis-password-file",
        str(secret),
    ).drawing()
    _, body = await get(f"{daemon.url}/v/demo/badge.svg")
    assert svg_text(body) == ["pypi", "v1.2.3"]
    code, state = await health(daemon.url)
    assert (
        code == 200
        and state["cache"] == "redis"
        and state["degraded"] is False
        and state["cache_error"] is None
    )
    clients = tls_redis.command("CLIENT", "LIST")
    assert re.search(rf"laddr=127\.0\.0\.1:{port} .*user=badges", clients), (
        clients
    )  # on the TLS port, as badges
    assert any(key.endswith(":pypi:demo") for key in our_keys(tls_redis))
    assert "s3cret" not in daemon.log_text()


@pytest_twisted.ensureDeferred
async def test_an_untrusted_certificate_is_one_error_line_and_a_degraded_health(
    upstream: FakeUpstream, tls_redis: RedisServer, start_daemon
) -> None:
    upstream.add("demo")
    port = tls_redis.tls_port  # type: ignore[attr-defined]
    daemon = await start_daemon(
        f"rediss://badges:s3cret@127.0.0.1:{port}/0"
    ).drawing()  # system CAs: not ours
    _, body = await get(f"{daemon.url}/v/demo/badge.svg")
    assert svg_text(body) == ["pypi", "v1.2.3"]
    await sleep(5)  # a few attempts, backing off
    code, state = await health(daemon.url)
    assert code == 200 and state["degraded"] is True and state["cache"] == "in-process fallback"
    assert "certificate verify failed" in state["cache_error"]
    log = daemon.log_text()
    assert log.count("Redis unusable") == 1 and "certificate verify failed" in log
    assert 2 <= log.count("Scheduling retry") <= 5  # back-off: 1 s, 2.7 s, 7.4 s, ... 15 s
    assert our_keys(tls_redis) == [] and "s3cret" not in log


@pytest_twisted.ensureDeferred
async def test_a_refused_password_is_retried_until_the_acl_lets_us_in(
    upstream: FakeUpstream, acl_redis: RedisServer, start_daemon
) -> None:
    upstream.add("demo")
    daemon = await start_daemon(f"redis://badges:rotated@127.0.0.1:{acl_redis.port}/0").drawing()
    await get(f"{daemon.url}/v/demo/badge.svg")
    code, state = await health(daemon.url)
    assert code == 200 and state["degraded"] is True and "WRONGPASS" in state["cache_error"]
    acl_redis.command("ACL", "SETUSER", "badges", ">rotated")  # the operator adds the new password
    started = reactor.seconds()
    while (await health(daemon.url))[1]["cache"] != "redis":
        assert reactor.seconds() - started < 40, "not reconnected after the ACL was fixed"
        await sleep(0.5)
    _, body = await get(f"{daemon.url}/wheel/demo/badge.svg")
    assert svg_text(body) == ["wheel", "yes"]
    assert "user=badges" in acl_redis.command("CLIENT", "LIST")
    log = daemon.log_text()
    assert log.count("Redis unusable (could not auth: WRONGPASS") == 1
    assert re.search(r"Redis is back after \d+\.\d s", log)
    assert "rotated" not in log
