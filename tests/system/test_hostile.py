"""Hostile input, as crawlers and fuzzers send it: never a 5xx, never a traceback, always safe SVG.

Requests go over a raw socket, byte for byte as generated, to a real daemon whose fake
PyPI runs in a process of its own (so these tests need no reactor).
"""

import json
import os
import re
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pypipin.badges.kinds import ORIGINAL_NAMES
from tests.support.hostile import NORMAL_UPSTREAM_PATH, hostile_segment, hostile_value, query_key
from tests.support.processes import ROOT, Daemon, FakeUpstreamProcess, rss_mib, wait_for_port

SVG = "{http://www.w3.org/2000/svg}"
BADGES = [*ORIGINAL_NAMES, "pypi", "nope", "", ".."]
pytestmark = pytest.mark.processes

EXTENSIONS = ["svg", "json", "png", "SVG", "bmp", "svg%00", "svg/", ""]
TRIED = {"count": 0}
ARTEFACTS = ROOT / "tests" / "artefacts"


@pytest.fixture(scope="module")
def target() -> Iterator[Daemon]:
    upstream = FakeUpstreamProcess(5)
    # budgets out of the way: these requests test parsing and escaping, not budgets (test_floods.py does)
    daemon = Daemon(
        upstream.url,
        "none",
        "--upstream-timeout",
        "1",
        "--client-renders",
        "1000000",
        "--global-renders",
        "1000000",
        "--client-names",
        "1000000",
        "--stats-rate",
        "1000000",
        "--pypi-rate",
        "1000000",
    )
    wait_for_port(daemon.port)
    daemon.upstream = upstream
    yield daemon
    daemon.stop()
    ARTEFACTS.mkdir(exist_ok=True)
    (ARTEFACTS / "hostile.txt").write_text(f"hostile requests sent: {TRIED['count']}\n")
    calls = upstream.requests()
    upstream.stop()
    unnormalised = [path for path in calls if not NORMAL_UPSTREAM_PATH.match(path)]
    assert not unnormalised, unnormalised[:5]


def send(port: int, target: bytes, headers: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP/1.1 request; the status, headers and body (status 0: closed without an answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as connection:
        connection.sendall(
            b"GET " + target + b" HTTP/1.1\r\nHost: badges\r\nConnection: close\r\n" + headers + b"\r\n"
        )
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
    TRIED["count"] += 1
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/1.1 "):
        return 0, {}, data
    fields = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    if fields.get("Transfer-Encoding") == "chunked":
        body = dechunk(body)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in fields.items()}, body


def dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size, _, data = data.partition(b"\r\n")
        if int(size, 16) == 0:
            break
        out += data[: int(size, 16)]
        data = data[int(size, 16) + 2 :]
    return out


TWISTED_HEAD_LIMIT = 16384


def answer(port: int, target: bytes) -> tuple[int, dict[str, str], bytes]:
    """``send``, checking what must hold for any answer: past Twisted's 16 KiB head limit, a 400 or a
    close."""
    status, headers, body = send(port, target)
    if len(target) > TWISTED_HEAD_LIMIT - 100:
        assert status in (0, 400, 414), status
    else:
        check(status, headers, body)
    return status, headers, body


def check(status: int, headers: dict[str, str], body: bytes) -> None:
    """What must hold for any answer at all."""
    assert 200 <= status < 500, (status, body[:200])
    assert b"Traceback" not in body and b'File "' not in body
    kind = headers.get("content-type", "")
    if status == 200 and kind.startswith("image/svg+xml"):
        root = ET.fromstring(body)
        for element in root.iter():
            assert element.tag not in (SVG + "script", SVG + "foreignObject")
            for name, value in element.attrib.items():
                assert not name.lower().startswith("on"), name
                if name.endswith("href") or name == "src":
                    assert value.startswith("data:image/"), value
    if status == 200 and kind == "application/json":
        assert set(json.loads(body)) == {"schemaVersion", "label", "message", "color", "isError"}


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    badge=st.sampled_from(BADGES),
    name=hostile_segment,
    extension=st.sampled_from(EXTENSIONS),
    extra=st.booleans(),
    shields=st.booleans(),
)
def test_random_paths(
    target: Daemon, badge: str, name: str, extension: str, extra: bool, shields: bool
) -> None:
    if shields:
        path = f"/pypi/{badge}/{name}" + (f".{extension}" if extension else "")
    else:
        path = f"/{badge}/{name}/badge.{extension}" + ("/more" if extra else "")
    answer(target.port, path.encode())


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    badge=st.sampled_from(["v", "wheel", "d", "license"]),
    fmt=st.sampled_from(["svg", "json", "png"]),
    params=st.lists(st.tuples(query_key, hostile_value), max_size=6),
    raw=st.booleans(),
)
def test_random_query_strings(
    target: Daemon, badge: str, fmt: str, params: list[tuple[str, str]], raw: bool
) -> None:
    encode = (
        (lambda text: text.encode("utf-8", "surrogatepass"))
        if raw
        else (lambda text: quote(text, safe="").encode())
    )
    query = b"&".join(encode(k) + b"=" + encode(v) for k, v in params)
    if raw:
        query = query.replace(b" ", b"+").replace(b"\r", b"").replace(b"\n", b"").replace(b"#", b"%23")
    status, _headers, body = answer(target.port, f"/{badge}/pkg1/badge.{fmt}?".encode() + query)
    labels = [v for k, v in params if k == "label"]
    if not raw and fmt == "svg" and labels and status == 200:
        label = labels[0]
        printable = (
            label.strip() and len(label) <= 200 and not re.search("[\x00-\x1f\x7f-\x9f\ufffe\uffff]", label)
        )
        style = dict(params).get("style", "flat")
        if printable and style in ("flat", "flat-square", "plastic"):
            shown = [el.text for el in ET.fromstring(body).iter(SVG + "text")]
            assert shown[0] == label.strip()  # exactly as asked (trimmed), after escaping


def test_over_long_uri_is_414(target: Daemon) -> None:
    status, _, _ = send(target.port, b"/v/" + b"a" * 9000 + b"/badge.svg")
    assert status == 414
    status, _, _ = send(target.port, b"/v/pkg1/badge.svg?label=" + b"x" * 9000)
    assert status == 414


def test_header_limits_are_4xx(target: Daemon) -> None:
    status, _, _body = send(target.port, b"/v/pkg1/badge.svg", b"X-Junk: " + b"y" * 9000 + b"\r\n")
    assert 200 <= status < 500
    many = b"".join(b"X-H%d: v\r\n" % n for n in range(600))
    status, _, _ = send(target.port, b"/v/pkg1/badge.svg", many)
    assert status in (0, 400)  # Twisted answers 400 and closes past 500 headers


def spooled(pid: int) -> dict[str, int]:
    """The deleted files a process holds open (where Twisted spools a request body), and their sizes."""
    files = {}
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = os.readlink(fd)
            if link.endswith("(deleted)"):
                files[link] = fd.stat().st_size
        except OSError:
            continue
    return files


@pytest.mark.parametrize(
    "head",
    [
        b"GET /v/pkg1/badge.svg HTTP/1.1\r\nHost: badges\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET /v/pkg1/badge.svg HTTP/1.1\r\nHost: badges\r\nContent-Length: 1073741824\r\n\r\n",
    ],
)
def test_a_get_with_a_body_is_413_at_once_and_nothing_is_spooled(target: Daemon, head: bytes) -> None:
    files = spooled(target.process.pid)
    with socket.create_connection(("127.0.0.1", target.port), timeout=5) as connection:
        started = time.monotonic()
        connection.sendall(head + b"1000\r\n" + b"x" * 1000)  # a few bytes: Twisted spools from the head on
        answer = connection.recv(65536)
        took = time.monotonic() - started
        assert spooled(target.process.pid) == files
        for _ in range(3):  # a byte now and then is not read either: the connection is closed
            try:
                connection.sendall(b"x")
            except OSError:
                break
            time.sleep(0.3)
        connection.settimeout(2)
        try:
            rest = connection.recv(65536)
        except ConnectionResetError:
            rest = b""
    assert answer.startswith(b"HTTP/1.1 413 ") and took < 1, (answer[:100], took)
    assert rest == b""  # closed, nothing more said


def test_ranges_on_static_files_get_the_whole_file_and_hang_nobody(target: Daemon) -> None:
    flood = b"bytes=" + b",".join([b"0-"] * 100)
    request = b"GET /static/home.js HTTP/1.1\r\nHost: badges\r\nRange: " + flood + b"\r\n\r\n"
    held = []
    try:
        for n in range(4 * 64):  # 4 addresses, 64 connections each (the per-address cap)
            connection = socket.create_connection(
                ("127.0.0.1", target.port), timeout=5, source_address=(f"127.0.0.{2 + n % 4}", 0)
            )
            connection.sendall(request)
            held.append(connection)
        started = time.monotonic()
        with socket.create_connection(
            ("127.0.0.1", target.port), timeout=3, source_address=("127.0.0.9", 0)
        ) as other:
            other.sendall(b"GET /v/pkg1/badge.svg HTTP/1.1\r\nHost: badges\r\n\r\n")
            assert other.recv(65536).startswith(b"HTTP/1.1 200 ")
        assert time.monotonic() - started < 3
        whole = (ROOT / "pypipin" / "web" / "static" / "home.js").read_bytes()
        for connection in held[:8]:  # each flooding connection gets the whole file, not a stuck multipart one
            connection.settimeout(3)
            answer = b""
            while not answer.endswith(whole) and (chunk := connection.recv(65536)):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(whole)
        for ranges in (b"bytes=0-9,20-29", b"bytes=0-9", b"bytes=-99999999", b"bytes=99999-", b"bytes=-0"):
            status, headers, body = send(target.port, b"/static/home.js", b"Range: " + ranges + b"\r\n")
            assert status == 200 and body == whole and headers["accept-ranges"] == "none", ranges
    finally:
        for connection in held:
            connection.close()
    log = target.log_text()
    assert "Traceback" not in log and "read length" not in log


def test_pipelined_requests_never_read_keep_memory_bounded(target: Daemon) -> None:
    send(target.port, b"/v/pkg1/badge.svg")
    before = rss_mib(target.process.pid)
    pipelined = b"GET /v/pkg1/badge.svg HTTP/1.1\r\nHost: badges\r\n\r\n" * 200
    connections = [
        socket.create_connection(
            ("127.0.0.1", target.port), timeout=5, source_address=(f"127.0.0.{2 + n % 4}", 0)
        )
        for n in range(32)
    ]
    peak, deadline = before, time.monotonic() + 10
    try:
        for connection in connections:
            connection.setblocking(False)
        while time.monotonic() < deadline:
            for connection in connections:
                try:
                    connection.send(pipelined)
                except (BlockingIOError, OSError):
                    pass
            peak = max(peak, rss_mib(target.process.pid))
            time.sleep(0.01)
        status, _, _ = send(target.port, b"/v/pkg1/badge.svg")
    finally:
        for connection in connections:
            connection.close()
    assert status == 200 and peak - before < 64, (before, peak)
