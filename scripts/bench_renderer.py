"""The renderer's defences, measured on loopback: hostile logos, then a burst of new PNGs.

For each hostile logo of issue 10: the status and time of its badge, whether node kept its
PID, node's peak RSS, and the time of the next normal PNG. Then ``--burst`` distinct-label
scale-4 PNGs over as many connections from 127.0.0.2 (its render budget raised to fit them),
against a daemon with the default cap on renders in flight and one with the cap as high as the
burst (what there was before): the most connections node had open, statuses, p50/p99 and the
wall time, in one table.
"""

import argparse
import base64
import http.client
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

from benchkit import Daemon, FakeUpstreamProcess, free_port, wait_for_port
from processes import wait_for_health
from test_logos import FLOOD, TURBULENCE


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
            open_now = sum(line.split()[3] == "01" and int(line.split()[1].split(":")[1], 16) == self.port
                           for line in table)
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
            status, elapsed, _ = fetch(daemon.port, f"/wheel/pkg0/badge.png?scale={scale}&logo={url}&label={name[:4]}")
            next_status, next_elapsed, _ = fetch(daemon.port, f"/wheel/pkg0/badge.png?label=next{scale}")
            peak.done = True
            peak.join()
            print(f"| {name}, scale {scale} | {status} | {elapsed:.3f} s | {daemon.children() == [pid]} | "
                  f"{peak.rss / 2**20:.0f} MiB | {next_status} in {next_elapsed:.3f} s |")
    finally:
        daemon.stop()


def burst(upstream: FakeUpstreamProcess, count: int) -> None:
    print(f"\n{count} distinct-label scale-4 PNGs at once from 127.0.0.2:\n")
    print("| cap on renders in flight | most connections to node | 200 | 503 | failed | p50 | p99 | wall |")
    print("|---|---|---|---|---|---|---|---|")
    for cap in (8, count):
        # budget and connection cap as large as the burst: the cap on renders in flight is measured here
        daemon, node_port = start(upstream, "--render-concurrency", str(cap), "--client-renders", str(count * 10),
                                  "--global-renders", str(count * 10),
                                  "--client-connections", str(count + 16))
        try:
            (pid,) = daemon.children()
            peak = Peak(pid, node_port)
            peak.start()
            started = time.monotonic()
            with ThreadPoolExecutor(count) as pool:
                results = list(pool.map(lambda n: fetch(daemon.port, f"/wheel/pkg0/badge.png?scale=4&label=c{cap}n{n}",
                                                         "127.0.0.2"), range(count)))
            wall = time.monotonic() - started
            peak.done = True
            peak.join()
            statuses = [status for status, _, _ in results]
            times = sorted(elapsed for _, elapsed, _ in results)
            print(f"| {cap} | {peak.connections} | {statuses.count(200)} | {statuses.count(503)} | "
                  f"{len(statuses) - statuses.count(200) - statuses.count(503)} | {statistics.median(times):.2f} s | "
                  f"{times[int(len(times) * 0.99) - 1]:.2f} s | {wall:.2f} s |")
        finally:
            daemon.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=300, help="PNGs asked for at once (default 300)")
    options = parser.parse_args()
    upstream = FakeUpstreamProcess(1)
    try:
        hostile(upstream)
        burst(upstream, min(options.burst, 1000))
    finally:
        upstream.stop()


if __name__ == "__main__":
    main()
