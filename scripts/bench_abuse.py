"""Abuse: the floods of issues 10 and 17 from loopback clients, and what they cost another client.

Each scenario starts a fresh daemon (its own redis-server, the fake upstream in a process of
its own), warms one cached badge, then floods from 127.0.0.2 (or from 250 addresses,
127.0.1.1 to 127.0.1.250; the Range flood also from .4-.6) while a victim on 127.0.0.3 keeps
asking for that cached badge (latency) and, where the scenario says so, for new real packages
(right answer, time). Every flood is bounded in count and in time and stays on loopback.
Issue 17's clip-chain logos come from 5 addresses (127.0.0.2, 4-7) while the victim also asks
for new PNGs and, at the end, /health. One table: what the flood got, PyPI and pypistats
calls, renders, Redis growth, the victim's p50/p99 against a quiet run, and the machine's load
average (latencies mean little on a machine busy with other work). A scenario may put the real
varnishd (conf/varnish.vcl) in front of the daemon: both clients then go through it.
"""

import argparse
import asyncio
import base64
import multiprocessing
import os
import re
import resource
import statistics
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import quote

from scripts.benchkit import (
    VARNISHD,
    Daemon,
    FakeUpstreamProcess,
    RedisServer,
    Varnish,
    rss_mib,
    wait_for_port,
)
from tests.support.logos import clip_chain

ATTACKER = "127.0.0.2"
CROWD = [f"127.0.1.{n}" for n in range(1, 251)]  # many addresses, one a connection
PACKAGES = 100  # pkg0..pkg99 at the fake upstream: pkg1-5 for the victim, pkg10 on for floods of real names
VICTIM = "127.0.0.3"
ATTACKERS = [ATTACKER] + [f"127.0.0.{n}" for n in range(4, 8)]  # issue 17's five addresses
CLIP_CHAINS = [
    (depth, fan_out, scale) for depth in range(5, 9) for fan_out in range(4, 11) for scale in (1, 4)
]
CACHED = "/v/pkg0/badge.svg"
UNCACHED = "/v/pkg1/badge.svg"  # a real package nobody asked for before the attack
NAMES_BUDGET = 30  # --client-names' default: made-up names one client may send a minute
TIMEOUT = 10.0


class Closed(Exception):
    """The server closed the connection without a (complete) answer."""


async def read_response(reader: asyncio.StreamReader, method: str) -> tuple[int, dict[str, str], bytes]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError) as error:
        raise Closed() from error
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {name.lower(): value for name, _, value in (line.partition(": ") for line in lines[1:] if line)}
    if method == "HEAD" or status in (204, 304):
        return status, headers, b""
    if headers.get("transfer-encoding") == "chunked":
        body = b""
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            body += (await reader.readexactly(size + 2))[:-2]
        await reader.readuntil(b"\r\n")
        return status, headers, body
    if "content-length" in headers:
        return status, headers, await reader.readexactly(int(headers["content-length"]))
    return status, headers, await reader.read()


class Client:
    """One keep-alive HTTP/1.1 connection from a chosen loopback source address."""

    def __init__(self, port: int, source: str) -> None:
        self.port = port
        self.source = source
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, target: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
        for attempt in (1, 2):  # once more on a fresh connection if the server closed an idle one
            if self.streams is None:
                self.streams = await asyncio.open_connection(
                    "127.0.0.1", self.port, local_addr=(self.source, 0)
                )
            reader, writer = self.streams
            try:
                writer.write(f"{method} {target} HTTP/1.1\r\nHost: badges\r\n\r\n".encode())
                answer = await read_response(reader, method)
            except (Closed, ConnectionError):
                self.close()
                if attempt == 2:
                    raise
                continue
            if answer[1].get("connection", "").lower() == "close":
                self.close()
            return answer
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def flood(
    port: int,
    targets: Callable[[int], str],
    count: int,
    seconds: float,
    connections: int,
    pace: float = 0.0,
    crowd: bool = False,
) -> Counter:
    """``count`` requests (target i from ``targets(i)``) over ``connections`` connections, stopping after
    ``seconds``; each connection waits ``pace`` s between its requests, and comes from an address of
    ``CROWD`` when ``crowd``, else from ``ATTACKER``."""
    statuses: Counter = Counter()
    deadline = time.monotonic() + seconds
    numbers = iter(range(count))

    async def worker(source: str) -> None:
        client = Client(port, source)
        for i in numbers:
            if time.monotonic() > deadline:
                break
            try:
                status, _, _ = await asyncio.wait_for(client.get(targets(i)), TIMEOUT)
            except (TimeoutError, Closed, OSError):
                status = 0
                client.close()
            statuses[status] += 1
            await asyncio.sleep(pace)
        client.close()

    sources = CROWD if crowd else [ATTACKER]
    await asyncio.gather(*(worker(sources[n % len(sources)]) for n in range(connections)))
    return statuses


async def hold_idle(port: int, sockets: int, seconds: float) -> Counter:
    """Open ``sockets`` connections that never send a byte; hold them ``seconds``; count how each ended."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, sockets + 256)), hard))
    held: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    outcome: Counter = Counter()
    for _ in range(sockets):
        try:
            held.append(
                await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port, local_addr=(ATTACKER, 0)), 2
                )
            )
        except (TimeoutError, OSError):
            outcome["refused"] += 1
    outcome["opened"] = len(held)
    await asyncio.sleep(1)
    outcome["closed at once"] = sum(reader.at_eof() for reader, _ in held)
    await asyncio.sleep(seconds - 1)
    outcome["held to the end"] = sum(not reader.at_eof() for reader, _ in held)
    for _, writer in held:
        writer.close()
    return outcome


async def big_post(port: int, seconds: float) -> Counter:
    """POST with ``Content-Length: 1 GiB``, sending the body until an answer comes (``seconds`` at most)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(ATTACKER, 0))
    writer.write(b"POST /v/pkg0/badge.svg HTTP/1.1\r\nHost: badges\r\nContent-Length: 1073741824\r\n\r\n")
    started = time.monotonic()
    answer = asyncio.ensure_future(read_response(reader, "POST"))
    status, sent = await stream_body(writer, answer, b"x" * 65536, started + seconds)
    took = time.monotonic() - started
    return Counter({status: 1, f"answered in {took:.1f} s": 1, f"body sent {sent / 2**20:.0f} MiB": 1})


async def stream_body(
    writer: asyncio.StreamWriter, answer: "asyncio.Future[Any]", chunk: bytes, deadline: float
) -> tuple[int, int]:
    """``chunk`` after ``chunk`` until ``answer`` comes, ``deadline`` passes or 1 GiB is sent; the answer's
    status (0: none) and the bytes sent."""
    sent = 0
    while not answer.done() and time.monotonic() < deadline and sent < 1 << 30:
        try:
            writer.write(chunk)
            await asyncio.wait_for(writer.drain(), 0.5)
            sent += len(chunk)
        except TimeoutError:
            continue
        except ConnectionError:
            break
    try:
        status = (await asyncio.wait_for(answer, max(0.1, deadline - time.monotonic())))[0]
    except (TimeoutError, Closed, ConnectionError):
        status = 0
    writer.close()
    return status, sent


async def get_bodies(port: int, connections: int, seconds: float) -> Counter:
    """``connections`` chunked GETs at once, each sending body chunks until an answer comes (``seconds`` at
    most); status 0: the connection was reset before the answer was read (closed while the client sent)."""

    async def one() -> tuple[int, int]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(ATTACKER, 0))
        writer.write(b"GET /v/pkg0/badge.svg HTTP/1.1\r\nHost: badges\r\nTransfer-Encoding: chunked\r\n\r\n")
        answer = asyncio.ensure_future(read_response(reader, "GET"))
        chunk = b"10000\r\n" + b"x" * 65536 + b"\r\n"
        return await stream_body(writer, answer, chunk, time.monotonic() + seconds)

    started = time.monotonic()
    results = await asyncio.gather(*(one() for _ in range(connections)))
    outcome = Counter(status for status, _ in results)
    outcome[f"all answered or reset in {time.monotonic() - started:.1f} s"] = 1
    outcome[f"body sent {sum(sent for _, sent in results) / 2**20:.0f} MiB"] = 1
    return outcome


RANGE_FLOOD = b"bytes=" + b",".join([b"0-"] * 100)
FLOODERS = ["127.0.0.2", "127.0.0.4", "127.0.0.5", "127.0.0.6"]  # 127.0.0.3 is the victim


async def range_flood(port: int, per_address: int, seconds: float) -> Counter:
    """``per_address`` connections from each of ``FLOODERS``, each asking for /static/home.js with 100 ranges
    ``0-``; how each ended: its status, or 0 for no whole answer within ``seconds``."""

    async def one(source: str) -> int:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        except OSError:
            return -1
        writer.write(b"GET /static/home.js HTTP/1.1\r\nHost: badges\r\nRange: " + RANGE_FLOOD + b"\r\n\r\n")
        try:
            status = (await asyncio.wait_for(read_response(reader, "GET"), seconds))[0]
        except (TimeoutError, Closed, ConnectionError):
            status = 0
        writer.close()
        return status

    return Counter(await asyncio.gather(*(one(source) for source in FLOODERS for _ in range(per_address))))


async def pipeline(port: int, connections: int, seconds: float) -> Counter:
    """``connections`` connections pipelining GETs of the cached badge for ``seconds``, reading no answer."""
    requests = f"GET {CACHED} HTTP/1.1\r\nHost: badges\r\n\r\n".encode() * 200

    async def one() -> int:
        _, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(ATTACKER, 0))
        never = asyncio.get_running_loop().create_future()  # no answer is ever read
        return (await stream_body(writer, never, requests, time.monotonic() + seconds))[1]

    sent = sum(await asyncio.gather(*(one() for _ in range(connections))))
    return Counter({f"requests sent {sent / 2**20:.0f} MiB": 1})


def clip_chain_url(depth: int, fan_out: int, scale: int) -> str:
    logo = "data:image/svg+xml;base64," + base64.b64encode(clip_chain(depth, fan_out).encode()).decode()
    return f"/v/pkg0/badge.png?scale={scale}&label={uuid.uuid4().hex}&logo={quote(logo)}"


async def clip_chains(port: int, seconds: float, connections: int) -> Counter:
    """Issue 17: every clip chain (depth 5-8, fan-out 4-10, scale 1 and 4) with new labels, round and
    round, from each of 5 addresses over ``connections`` connections each, for ``seconds``; the
    slowest answer too."""
    statuses: Counter = Counter()
    deadline = time.monotonic() + seconds
    slowest = 0.0

    async def worker(source: str, first: int) -> None:
        nonlocal slowest
        client = Client(port, source)
        n = first
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                target = clip_chain_url(*CLIP_CHAINS[n % len(CLIP_CHAINS)])
                status, _, _ = await asyncio.wait_for(client.get(target), TIMEOUT)
            except (TimeoutError, Closed, OSError):
                status = 0
                client.close()
            slowest = max(slowest, time.monotonic() - started)
            statuses[status] += 1
            n += connections
        client.close()

    await asyncio.gather(*(worker(source, n) for source in ATTACKERS for n in range(connections)))
    statuses[f"slowest {slowest:.2f} s"] = 1
    return statuses


def run_attack(kind: str, port: int, args: dict[str, Any], out: Any) -> None:
    """In a process of its own, so the flood does not share an event loop with the victim."""
    if kind == "flood":
        attack = flood(port, ATTACKS[args.pop("urls")], **args)
    else:
        attack = {
            "clip chains": clip_chains,
            "idle": hold_idle,
            "post": big_post,
            "getbody": get_bodies,
            "ranges": range_flood,
            "pipeline": pipeline,
        }[kind](port, **args)
    out.put(asyncio.run(attack))


def cached_url(i: int) -> str:
    return CACHED


def label_url(i: int) -> str:
    return f"/v/pkg0/badge.svg?label={uuid.uuid4().hex}"


def unknown_url(i: int) -> str:
    return f"/v/nopkg-{uuid.uuid4().hex}/badge.svg"


def params_url(i: int) -> str:
    return f"{CACHED}?x={i}"


def poison_url(i: int) -> str:
    """The names budget spent, then a made-up name and the uncached real badge in turn."""
    return UNCACHED if i > NAMES_BUDGET and i % 2 else unknown_url(i)


def downloads_url(i: int) -> str:
    return f"/d/nopkg-{uuid.uuid4().hex}/badge.svg"


def png4_url(i: int) -> str:
    return f"/v/pkg0/badge.png?scale=4&label={uuid.uuid4().hex}"


def tiff4_url(i: int) -> str:
    return f"/v/pkg0/badge.tiff?scale=4&label={uuid.uuid4().hex * 6}"


def real_url(kind: str, i: int) -> str:
    """A ``kind`` badge of a real package, pkg10 on (the victim's are pkg1-5)."""
    return f"/{kind}/pkg{10 + i % (PACKAGES - 10)}/badge.svg"


def png_label_url(i: int) -> str:
    return f"/v/pkg0/badge.png?label={uuid.uuid4().hex}"


ATTACKS = {
    "cached": cached_url,
    "labels": label_url,
    "unknown": unknown_url,
    "downloads": downloads_url,
    "png4": png4_url,
    "tiff4": tiff4_url,
    "params": params_url,
    "poison": poison_url,
    "real downloads": partial(real_url, "d"),
    "real versions": partial(real_url, "v"),
    "png labels": png_label_url,
}


@dataclass
class Victim:
    """What the victim saw: cached-badge latencies, and its checks of new real packages."""

    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    refused: int = 0  # answers that were the ``rate limited`` badge
    checks: list[str] = field(default_factory=list)

    def row(self) -> tuple[str, str, str]:
        if not self.latencies:
            return "-", "-", f"{self.failures} failed"
        ordered = sorted(self.latencies)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        failed = [f"{self.failures} of {self.failures + len(ordered)} failed"] if self.failures else []
        refused = [f"{self.refused} of {len(ordered)} rate limited"] if self.refused else []
        shown = "; ".join(failed + refused + self.checks)
        return f"{statistics.median(ordered) * 1000:.1f}", f"{p99 * 1000:.1f}", shown


async def watch(port: int, scenario: "Scenario", victim: Victim) -> None:
    """Ask for the watched badge every ``interval`` s for ``seconds`` (on a fresh connection each time, if
    asked); count the answers that were the ``rate limited`` badge."""
    client = Client(port, VICTIM)
    deadline = time.monotonic() + scenario.seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            status, _, body = await asyncio.wait_for(client.get(scenario.watched), 3)
            if status != 200:
                raise Closed(status)
            victim.latencies.append(time.monotonic() - started)
            victim.refused += b"rate limited" in body
        except (TimeoutError, Closed, OSError):
            victim.failures += 1
            client.close()
        if scenario.fresh_connections:
            client.close()
        await asyncio.sleep(scenario.interval)
    client.close()


def right_answer(kind: str, n: int, status: int, headers: dict[str, str], body: bytes) -> bool:
    """Whether the victim's badge of pkg``n`` says what it should. A PNG cannot be read here: it is right
    when it is a PNG kept as long as a fresh badge, not one of the error badges kept 10 s."""
    if kind == "png":
        max_age = re.search(r"max-age=(\d+)", headers.get("cache-control", ""))
        return (
            status == 200
            and body.startswith(b"\x89PNG")
            and max_age is not None
            and int(max_age.group(1)) > 10
        )
    message = re.search(rb'"message": "([^"]*)"', body)
    want = f"v1.{n}.0" if kind == "v" else f"{n}k/month"
    return message is not None and message.group(1).decode() == want


async def first_requests(port: int, victim: Victim, kind: str, after: float, count: int) -> None:
    """The victim's first requests for ``count`` real packages (``v`` or ``d`` badges as JSON, or ``png``:
    version PNGs), each checked for the right answer."""
    await asyncio.sleep(after)
    client = Client(port, VICTIM)
    right, slowest = 0, 0.0
    for n in range(1, count + 1):
        started = time.monotonic()
        path = f"/v/pkg{n}/badge.png" if kind == "png" else f"/{kind}/pkg{n}/badge.json"
        try:
            right += right_answer(kind, n, *await asyncio.wait_for(client.get(path), 10))
        except (TimeoutError, Closed, OSError):
            client.close()
        slowest = max(slowest, time.monotonic() - started)
    client.close()
    victim.checks.append(f"new {kind}: {right}/{count} right, slowest {slowest:.2f} s")


async def new_pngs(port: int, victim: Victim, after: float) -> None:
    """The victim's 8 new PNGs (new labels, one every 0.5 s): statuses, how many were its own
    (distinct images, not the one generic ``rate limited`` badge), the slowest."""
    await asyncio.sleep(after)
    client = Client(port, VICTIM)
    statuses: Counter = Counter()
    images = set()
    slowest = 0.0
    for _ in range(8):
        started = time.monotonic()
        try:
            target = f"/v/pkg0/badge.png?label={uuid.uuid4().hex}"
            status, _, body = await asyncio.wait_for(client.get(target), 10)
            images.add(body)
        except (TimeoutError, Closed, OSError):
            status = 0
            client.close()
        statuses[status] += 1
        slowest = max(slowest, time.monotonic() - started)
        await asyncio.sleep(0.5)
    client.close()
    victim.checks.append(f"new PNGs: {dict(statuses)}, {len(images)} distinct, slowest {slowest:.2f} s")


async def health_after(port: int, victim: Victim) -> None:
    """/health once the attack is over (it was 503 for ~100 s after issue 17's)."""
    client = Client(port, VICTIM)
    try:
        status, _, _ = await asyncio.wait_for(client.get("/health"), 10)
    except (TimeoutError, Closed, OSError):
        status = 0
    client.close()
    victim.checks.append(f"/health after: {status}")


@dataclass
class Peak:
    """The highest RSS of a process, sampled every 0.2 s while ``follow`` runs."""

    pid: int
    mib: float = 0.0

    async def follow(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.mib = max(self.mib, rss_mib(self.pid))
            await asyncio.sleep(0.2)


def metric(daemon: Daemon, name: str, labels: str) -> int:
    text = urllib.request.urlopen(daemon.url + "/metrics", timeout=30).read().decode()
    pattern = rf"^{name}\{{{labels}\}} (\S+)$" if labels else rf"^{name} (\S+)$"
    return int(sum(float(value) for value in re.findall(pattern, text, re.M)))


def used_memory(redis: RedisServer) -> int:
    return int(re.search(r"used_memory:(\d+)", redis.command("INFO", "memory")).group(1))


@dataclass
class Scenario:
    name: str
    attack: str  # flood, clip chains, idle, post or none
    args: dict[str, Any]
    seconds: float  # how long the victim watches
    new_packages: str | None = None  # "v", "d" or "png": the victim's first requests for real packages
    new_count: int = 5  # how many (one, where a client's share of an upstream gate allows no more at once)
    new_after: float = 0.5  # seconds into the flood of the victim's first requests
    new_pngs: bool = False  # the victim's 8 new PNGs, and /health after the attack
    fresh_connections: bool = False
    nofile: int | None = None  # the daemon's open-files limit
    options: tuple[str, ...] = ()  # the daemon's own
    watched: str = CACHED  # the victim's badge (warmed before the attack when it is CACHED)
    interval: float = 0.02  # seconds between the victim's requests
    head_start: float = 0.3  # seconds the attack runs before the victim starts
    varnish: bool = False  # both clients through conf/varnish.vcl
    daemon: bool = False  # also report the daemon's peak RSS growth and the tracebacks in its log


SCENARIOS = [
    Scenario("quiet (no attack)", "none", {}, 5, new_packages="v"),
    Scenario(
        "400 unknown names",
        "flood",
        {"urls": "unknown", "count": 400, "seconds": 10, "connections": 32},
        8,
        new_packages="v",
    ),
    Scenario(
        "/d/<random> x 200",
        "flood",
        {"urls": "downloads", "count": 200, "seconds": 10, "connections": 8},
        6,
        new_packages="d",
    ),
    # the yardstick for the next rows: the cheapest flood there is, one cached badge, as fast as it goes
    Scenario(
        "cached badge 10 s x 32 conns",
        "flood",
        {"urls": "cached", "count": 100000, "seconds": 10, "connections": 32},
        10,
    ),
    Scenario(
        "?x=N on the cached badge 10 s x 32",
        "flood",
        {"urls": "params", "count": 100000, "seconds": 10, "connections": 32},
        10,
    ),
    Scenario(
        "Varnish: made-up names + uncached badge",
        "flood",
        {"urls": "poison", "count": 1000, "seconds": 25, "connections": 1, "pace": 0.05},
        20,
        watched=UNCACHED,
        interval=0.5,
        head_start=4,
        varnish=True,
    ),
    Scenario(
        "labels 10 s x 32 conns",
        "flood",
        {"urls": "labels", "count": 100000, "seconds": 10, "connections": 32},
        10,
    ),
    Scenario(
        "PNG scale 4 10 s x 32",
        "flood",
        {"urls": "png4", "count": 100000, "seconds": 10, "connections": 32},
        10,
    ),
    Scenario(
        "TIFF scale 4 x 300", "flood", {"urls": "tiff4", "count": 300, "seconds": 60, "connections": 8}, 10
    ),
    Scenario(
        "clip-chain logos 10 s x 5 addresses x 8",
        "clip chains",
        {"seconds": 10, "connections": 8},
        6,
        new_pngs=True,
    ),
    Scenario(
        "1,100 idle sockets 15 s",
        "idle",
        {"sockets": 1100, "seconds": 15},
        15,
        fresh_connections=True,
        nofile=1024,
    ),
    Scenario("POST 1 GiB body", "post", {"seconds": 10}, 6),
    # issue 17: real names cost a client nothing, and many addresses share no render budget
    Scenario(
        "real /d/ names x 80 from one address",
        "flood",
        {"urls": "real downloads", "count": 80, "seconds": 10, "connections": 8},
        8,
        new_packages="d",
        new_count=1,
        new_after=1.0,
    ),
    Scenario(
        "real /v/ names x 200, --pypi-rate 1",
        "flood",
        {"urls": "real versions", "count": 200, "seconds": 10, "connections": 8},
        8,
        new_packages="v",
        new_count=1,
        new_after=4.5,
        options=("--pypi-rate", "1"),
    ),
    Scenario(
        "250 addresses custom-label PNGs 15 s",
        "flood",
        {"urls": "png labels", "count": 15000, "seconds": 15, "connections": 250, "crowd": True},
        12,
        new_packages="png",
        new_after=3.0,
    ),
    Scenario("4 chunked GET bodies", "getbody", {"connections": 4, "seconds": 10}, 6, daemon=True),
    Scenario(
        "Range 100 x 0- on /static/, 4 x 64 conns",
        "ranges",
        {"per_address": 64, "seconds": 10},
        10,
        daemon=True,
    ),
    Scenario(
        "pipelined GETs never read 10 s x 32", "pipeline", {"connections": 32, "seconds": 10}, 10, daemon=True
    ),
]


async def play(
    scenario: Scenario, upstream: FakeUpstreamProcess, redis: RedisServer, daemon: Daemon, port: int
) -> list[str]:
    """The scenario against ``port`` (the daemon's, or Varnish's in front of it)."""
    warm = Client(port, VICTIM)
    await warm.get(CACHED)
    await warm.get(CACHED)
    warm.close()
    await asyncio.sleep(0.5)
    before_calls, before_memory = upstream.requests(), used_memory(redis)
    before_renders = metric(daemon, "pypipin_renders_total", ".*")
    out: Any = multiprocessing.Queue()
    attacker = None
    if scenario.attack != "none":
        attacker = multiprocessing.Process(
            target=run_attack, args=(scenario.attack, port, dict(scenario.args), out)
        )
        attacker.start()
        await asyncio.sleep(1.0 if scenario.attack == "idle" else scenario.head_start)
    victim = Victim()
    rss_before = rss_mib(daemon.process.pid)
    peak = Peak(daemon.process.pid)
    jobs = [watch(port, scenario, victim), peak.follow(scenario.seconds)]
    if scenario.new_packages:
        jobs.append(
            first_requests(port, victim, scenario.new_packages, scenario.new_after, scenario.new_count)
        )
    if scenario.new_pngs:
        jobs.append(new_pngs(port, victim, 0.5))
    await asyncio.gather(*jobs)
    attacked = ""
    if attacker is not None:
        got = await asyncio.get_running_loop().run_in_executor(None, out.get)
        attacker.join()
        if scenario.new_pngs:
            await health_after(port, victim)
            victim.checks.append(f"node restarts: {metric(daemon, 'pypipin_renderer_restarts_total', '')}")
        attacked = ", ".join(f"{key}: {count}" for key, count in sorted(got.items(), key=str))
    if scenario.daemon:
        tracebacks = daemon.log_text().count("Traceback")
        attacked += f"; daemon RSS +{peak.mib - rss_before:.0f} MiB, tracebacks in its log: {tracebacks}"
    calls = {path: n - before_calls.get(path, 0) for path, n in upstream.requests().items()}
    p50, p99, checks = victim.row()
    return [
        scenario.name,
        attacked or "-",
        str(sum(n for path, n in calls.items() if path.startswith("/pypi/"))),
        str(sum(n for path, n in calls.items() if path.startswith("/api/"))),
        str(metric(daemon, "pypipin_renders_total", ".*") - before_renders),
        f"{(used_memory(redis) - before_memory) / 2**20:.1f}",
        p50,
        p99,
        checks or "-",
        f"{os.getloadavg()[0]:.1f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", help="run only the scenarios whose name contains this text")
    parser.add_argument("--delay", type=float, default=0.02, help="seconds the fake upstream takes to answer")
    parser.add_argument(
        "--workers", type=int, default=1, help="the daemon's --workers (scripts/run: one a core)"
    )
    args = parser.parse_args()
    header = [
        "scenario",
        "flood answers (status: count)",
        "PyPI calls",
        "stats calls",
        "renders",
        "Redis +MiB",
        "victim p50 ms",
        "victim p99 ms",
        "victim's checks",
        "load (1 min)",
    ]
    rows = [header, ["---"] * len(header)]
    for scenario in SCENARIOS:
        if args.only and args.only not in scenario.name:
            continue
        if scenario.varnish and not os.path.exists(VARNISHD):
            print(f"{scenario.name}: skipped, varnishd is not installed", flush=True)
            continue
        redis = RedisServer()
        upstream = FakeUpstreamProcess(PACKAGES, args.delay)
        daemon = Daemon(
            upstream.url, redis.url, *scenario.options, nofile=scenario.nofile, workers=args.workers
        )
        varnish = None
        try:
            wait_for_port(daemon.port)
            time.sleep(1.0)  # the renderer comes up
            varnish = Varnish("varnish.vcl", {8888: daemon.port}) if scenario.varnish else None
            port = daemon.port if varnish is None else varnish.port
            rows.append(asyncio.run(play(scenario, upstream, redis, daemon, port)))
        finally:
            if varnish is not None:
                varnish.stop()
            daemon.stop()
            upstream.stop()
            redis.stop()
        print(" | ".join(rows[-1]), flush=True)
    print()
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
