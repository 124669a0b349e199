"""The renderer's defences on loopback: hostile logos, what logos cost node, a burst of new PNGs.

For each hostile logo of issue 10: the status and time of its badge, whether node kept its
PID, node's peak RSS, and the time of the next normal PNG. Then logos sent straight to node (past
the logo check), the best of 3 renders at scale 1 and 4 beside what the check says of each: the
timings the weights of pypipin/drawcost.py come from. Then ``--burst`` distinct-label
scale-4 PNGs over as many connections from 127.0.0.2 (its render budget raised to fit them),
against a daemon with the default cap on renders in flight and one with the cap as high as the
burst (what there was before): the most connections node had open, statuses, p50/p99 and the
wall time, in one table.
"""

import argparse
import base64
import http.client
import json
import os
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

from pypipin.badges import logos
from scripts.benchkit import Daemon, FakeUpstreamProcess, free_port, wait_for_port
from tests.support.logos import BIG, CLIPPED, FLOOD, PYTHON, SVG_NS, TURBULENCE, clip_chain
from tests.support.processes import wait_for_health

CLIP = f"<clipPath id='c'><rect {BIG}/></clipPath>"


def tiny(body: str) -> str:
    """A logo of a 1x1 viewBox: its shapes as large as they can be against it."""
    return f"<svg {SVG_NS} viewBox='0 0 1 1'>{body}</svg>"


COSTLY = [  # (name, logo); each takes node under ~2 s at scale 4, well inside its 4 s deadline
    ("Python (simple-icons)", PYTHON),
    ("8 paths clipped by a clipped clip path", CLIPPED),
    (
        "255 large shapes (16 uses of 15)",
        tiny("<g id='a'>" + f"<rect {BIG}/>" * 15 + "</g>" + "<use href='#a'/>" * 16),
    ),
    (
        "240 large layers (opacity)",
        tiny("<g id='a'>" + f"<rect opacity='.5' {BIG}/>" * 15 + "</g>" + "<use href='#a'/>" * 15),
    ),
    ("31 large clipped shapes", tiny(CLIP + f"<rect clip-path='url(#c)' {BIG}/>" * 31)),
    ("60 large clipped shapes", tiny(CLIP + f"<rect clip-path='url(#c)' {BIG}/>" * 60)),
    ("clip chain depth 3, fan-out 4", clip_chain(3, 4)),
    ("clip chain depth 4, fan-out 4", clip_chain(4, 4)),
    ("clip chain depth 5, fan-out 4", clip_chain(5, 4)),
    ("clip chain depth 4, fan-out 8", clip_chain(4, 8)),
]


def fetch(port: int, path: str, source: str = "127.0.0.1") -> tuple[int, float, bytes]:
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, time.monotonic() - started, response.read()
    except OSError:
        return 0, time.monotonic() - started, b""
    finally:
        connection.close()


class Peak(threading.Thread):
    """Samples a process's RSS every 10 ms, and the connections open to a port."""

    def __init__(self, pid: int, port: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.port, self.rss, self.connections, self.done = pid, port, 0, 0, False

    def run(self) -> None:
        while not self.done:
            try:
                status = Path(f"/proc/{self.pid}/status").read_text()
                self.rss = max(self.rss, int(status.split("VmRSS:")[1].split()[0]) * 1024)
            except (OSError, IndexError):
                pass
            table = Path("/proc/net/tcp").read_text().splitlines()[1:]
            open_now = sum(
                line.split()[3] == "01" and int(line.split()[1].split(":")[1], 16) == self.port
                for line in table
            )
            self.connections = max(self.connections, open_now)
            time.sleep(0.01)


def start(upstream: FakeUpstreamProcess, *extra: str) -> tuple[Daemon, int]:
    node_port = free_port()
    daemon = Daemon(upstream.url, "none", "--renderer-port", str(node_port), *extra)
    wait_for_port(daemon.port)
    try:
        wait_for_health(daemon.url)  # node may take seconds to start under load
    except TimeoutError:
        daemon.stop()
        raise SystemExit(f"node did not start:\n{daemon.log_text()[-2000:]}") from None
    return daemon, node_port


def hostile(upstream: FakeUpstreamProcess) -> None:
    daemon, node_port = start(upstream)
    try:
        print("| logo | status | time | node PID kept | node peak RSS | next normal PNG |")
        print("|---|---|---|---|---|---|")
        for name, logo, scale in (("feTurbulence, huge region", TURBULENCE, 4), ("feFlood", FLOOD, 1)):
            (pid,) = daemon.children()
            peak = Peak(pid, node_port)
            peak.start()
            url = quote("data:image/svg+xml;base64," + base64.b64encode(logo.encode()).decode())
            status, elapsed, _ = fetch(
                daemon.port, f"/wheel/pkg0/badge.png?scale={scale}&logo={url}&label={name[:4]}"
            )
            next_status, next_elapsed, _ = fetch(daemon.port, f"/wheel/pkg0/badge.png?label=next{scale}")
            peak.done = True
            peak.join()
            print(
                f"| {name}, scale {scale} | {status} | {elapsed:.3f} s | {daemon.children() == [pid]} | "
                f"{peak.rss / 2**20:.0f} MiB | {next_status} in {next_elapsed:.3f} s |"
            )
    finally:
        daemon.stop()


def draw(node_port: int, logo: str, scale: int) -> float:
    """Seconds node takes to draw a PNG badge with ``logo``, the best of 3."""
    spec = {
        "label": "cost",
        "message": "1",
        "format": "png",
        "scale": scale,
        "logo": "data:image/svg+xml;base64," + base64.b64encode(logo.encode()).decode(),
    }
    best = float("inf")
    for _ in range(3):
        started = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", node_port, timeout=10)
        try:
            connection.request("POST", "/render", json.dumps(spec), {"Content-Type": "application/json"})
            connection.getresponse().read()
        finally:
            connection.close()
        best = min(best, time.monotonic() - started)
    return best


def costs(upstream: FakeUpstreamProcess) -> None:
    daemon, node_port = start(upstream)
    try:
        print(f"\nLogos sent straight to node, best of 3 renders (load average {os.getloadavg()[0]:.1f}):\n")
        print("| logo | bytes | logo check | scale 1 | scale 4 |")
        print("|---|---|---|---|---|")
        for name, logo in COSTLY:
            try:
                logos.check(logo.encode())
                verdict = "accepted"
            except logos.Refused as refused:
                verdict = f"refused: {refused}"
            print(
                f"| {name} | {len(logo):,} | {verdict} | {draw(node_port, logo, 1) * 1000:.0f} ms | "
                f"{draw(node_port, logo, 4) * 1000:.0f} ms |",
                flush=True,
            )
    finally:
        daemon.stop()


def burst(upstream: FakeUpstreamProcess, count: int) -> None:
    print(f"\n{count} distinct-label scale-4 PNGs at once from 127.0.0.2:\n")
    print("| cap on renders in flight | most connections to node | 200 | 503 | failed | p50 | p99 | wall |")
    print("|---|---|---|---|---|---|---|---|")
    for cap in (8, count):
        # budget and connection cap as large as the burst: the cap on renders in flight is measured here
        daemon, node_port = start(
            upstream,
            "--render-concurrency",
            str(cap),
            "--client-renders",
            str(count * 10),
            "--global-renders",
            str(count * 10),
            "--client-connections",
            str(count + 16),
        )
        try:
            (pid,) = daemon.children()
            peak = Peak(pid, node_port)
            peak.start()
            started = time.monotonic()
            with ThreadPoolExecutor(count) as pool:
                results = list(
                    pool.map(
                        lambda n, daemon=daemon, cap=cap: fetch(
                            daemon.port, f"/wheel/pkg0/badge.png?scale=4&label=c{cap}n{n}", "127.0.0.2"
                        ),
                        range(count),
                    )
                )
            wall = time.monotonic() - started
            peak.done = True
            peak.join()
            statuses = [status for status, _, _ in results]
            times = sorted(elapsed for _, elapsed, _ in results)
            print(
                f"| {cap} | {peak.connections} | {statuses.count(200)} | {statuses.count(503)} | "
                f"{len(statuses) - statuses.count(200) - statuses.count(503)} | "
                f"{statistics.median(times):.2f} s | "
                f"{times[int(len(times) * 0.99) - 1]:.2f} s | {wall:.2f} s |"
            )
        finally:
            daemon.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=300, help="PNGs asked for at once (default 300)")
    options = parser.parse_args()
    upstream = FakeUpstreamProcess(1)
    try:
        hostile(upstream)
        costs(upstream)
        burst(upstream, min(options.burst, 1000))
    finally:
        upstream.stop()


if __name__ == "__main__":
    main()
