"""Hot path: requests/s for a cached badge, pypipin against a bare twisted.web resource.

All servers answer the same bytes with the same headers; wrk drives each in turn,
several rounds interleaved, in one run, so the machine's noise hits all alike. The
bare resource's Site keeps no access log, so pypipin is measured with
``--access-log none`` (the same work), with its default access log (standard output,
here a file) in both formats, and with the access log written to a file of its own.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
import timeit
import urllib.request

from scripts.benchkit import Daemon, FakeUpstreamProcess, free_port, wait_for_port

ACCESS_FILE = "/tmp/pypipin-bench-access.log"
HEADERS = ("Content-Type", "Cache-Control", "ETag", "Access-Control-Allow-Origin")


def serve_bare(port: int, body_file: str, headers: list[str]) -> None:
    from twisted.internet import reactor
    from twisted.web import resource, server

    body = open(body_file, "rb").read()
    pairs = [(name.encode(), value.encode()) for name, value in (h.split(": ", 1) for h in headers)]

    class Bare(resource.Resource):
        isLeaf = True

        def render_GET(self, request: server.Request) -> bytes:
            for name, value in pairs:
                request.setHeader(name, value)
            return body

    class Unlogged(server.Site):
        def log(self, request: server.Request) -> None:
            pass

    reactor.listenTCP(port, Unlogged(Bare()), backlog=1024, interface="127.0.0.1")
    reactor.run()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, seconds: int, connections: int, pid: int) -> tuple[float, float]:
    """Requests per second of wall time, and per second of the server's CPU time.

    The second is what a saturated one-thread server would reach on a core of its own:
    it hardly moves with the load other processes put on the machine.
    """
    before = cpu_seconds(pid)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url], capture_output=True, text=True, check=True
    ).stdout
    used = cpu_seconds(pid) - before
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} failed responses")
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), total / used


def log_cost(access_log: str, log_format: str, count: int = 100_000) -> float:
    """CPU microseconds per request of the Site's end-of-request work (metrics and access line), in this
    process."""
    from twisted.internet import reactor
    from twisted.internet.address import IPv4Address
    from twisted.web.resource import Resource
    from twisted.web.test.requesthelper import DummyChannel

    from pypipin.metrics import Counters
    from pypipin.web.access_log import site
    from pypipin.web.state import state

    badges, batches = site(Resource(), access_log, log_format, Counters(), reactor)
    channel = DummyChannel()
    channel.site = badges
    request = badges.requestFactory(channel)
    request.client = IPv4Address("TCP", "127.0.0.1", 50000)
    request.uri, request.method, request.clientproto, request.code, request.sentLength = (
        b"/v/pkg0/badge.svg?style=flat-square",
        b"GET",
        b"HTTP/1.1",
        200,
        1234,
    )
    request.requestHeaders.setRawHeaders(b"user-agent", [b"Mozilla/5.0 (X11; Linux x86_64) camo"])
    about = state(request)
    about.started, about.badge, about.format, about.cache = reactor.seconds(), "version", "svg", "hot"
    timer = timeit.Timer(lambda: badges.log(request), timer=time.process_time)
    spent = min(timer.repeat(number=count, repeat=5)) / count * 1e6
    if batches is not None:
        batches.close()
    return spent


def wall_rate(url: str, seconds: int, connections: int) -> float:
    """Requests per second of wall time (a daemon of several processes has no one CPU clock)."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url], capture_output=True, text=True, check=True
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} failed responses")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def workers_rates(rounds: int, seconds: int, connections: int) -> dict[int, list[float]]:
    """Cached badges a second of ``--workers 1`` and of ``--workers 2``, ``rounds`` rounds interleaved."""
    upstream = FakeUpstreamProcess(1)
    daemons = {count: Daemon(upstream.url, "none", "--access-log", "none", workers=count) for count in (1, 2)}
    try:
        path = "/v/pkg0/badge.svg?style=flat-square"
        for daemon in daemons.values():
            wait_for_port(daemon.port)
            for _ in range(4):  # each worker's in-process cache holds the badge
                urllib.request.urlopen(daemon.url + path, timeout=30).read()
        rates: dict[int, list[float]] = {count: [] for count in daemons}
        for _ in range(rounds):
            for count, daemon in daemons.items():
                rates[count].append(wall_rate(daemon.url + path, seconds, connections))
        return rates
    finally:
        for daemon in daemons.values():
            daemon.stop()
        upstream.stop()


def compare_workers(args: argparse.Namespace) -> None:
    """Print ``workers_rates``: each count's median, and its ratio to one worker's."""
    rates = workers_rates(args.rounds, args.seconds, args.connections)
    medians = {count: statistics.median(found) for count, found in rates.items()}
    print(f"wall-clock req/s (median of {args.rounds} rounds), load average {os.getloadavg()}:")
    for count, found in rates.items():
        rounds = ", ".join(f"{rate:.0f}" for rate in found)
        print(
            f"  --workers {count}  {medians[count]:8.0f}  / 1 worker {medians[count] / medians[1]:4.2f}"
            f"  (rounds: {rounds})"
        )
    print("target: --workers 2 >= 1.5 x --workers 1")


def servers_first(servers: dict[str, object]) -> str:
    return next(iter(servers))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5, help="length of one wrk round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per server, interleaved")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--serve-bare", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--workers", action="store_true", help="--workers 1 against --workers 2 instead")
    args = parser.parse_args()
    if args.workers:
        return compare_workers(args)
    if args.serve_bare:
        port, body_file, *headers = args.serve_bare
        return serve_bare(int(port), body_file, headers)

    upstream = FakeUpstreamProcess(1)
    unlogged = Daemon(upstream.url, "none", "--access-log", "none")
    logged = Daemon(upstream.url, "none")
    logged_json = Daemon(upstream.url, "none", "--log-format", "json")
    to_file = Daemon(upstream.url, "none", "--access-log", ACCESS_FILE)
    bare = None
    try:
        path = "/v/pkg0/badge.svg?style=flat-square"
        for daemon in (unlogged, logged, logged_json, to_file):
            wait_for_port(daemon.port)
            response = urllib.request.urlopen(daemon.url + path, timeout=30)
            body = response.read()
        headers = [f"{name}: {response.headers[name]}" for name in HEADERS]
        with open("/tmp/pypipin-bench-body", "wb") as out:
            out.write(body)
        bare_port = free_port()
        bare = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "scripts.bench_hot",
                "--serve-bare",
                str(bare_port),
                "/tmp/pypipin-bench-body",
                *headers,
            ]
        )
        wait_for_port(bare_port)
        bare_url = f"http://127.0.0.1:{bare_port}"
        assert urllib.request.urlopen(bare_url + path).read() == body
        servers = {
            "bare twisted.web resource": (bare_url, bare.pid),
            "pypipin, --access-log none": (unlogged.url, unlogged.process.pid),
            "pypipin, default access log": (logged.url, logged.process.pid),
            "pypipin, default, JSON lines": (logged_json.url, logged_json.process.pid),
            "pypipin, --access-log FILE": (to_file.url, to_file.process.pid),
        }
        walls: dict[str, list[float]] = {name: [] for name in servers}
        cpus: dict[str, list[float]] = {name: [] for name in servers}
        for _ in range(args.rounds):
            for name, (url, pid) in servers.items():
                wall, cpu = wrk(url + path, args.seconds, args.connections, pid)
                walls[name].append(wall)
                cpus[name].append(cpu)
        for title, rates in (("wall-clock req/s", walls), ("req per CPU second", cpus)):
            medians = {name: statistics.median(found) for name, found in rates.items()}
            print(f"{title} (median of {args.rounds} rounds):")
            for name, found in rates.items():
                rounds = ", ".join(f"{rate:.0f}" for rate in found)
                print(
                    f"  {name:28} {medians[name]:8.0f}"
                    f"  / bare {medians[name] / medians[servers_first(servers)]:4.2f}"
                    f"  / none {medians[name] / medians['pypipin, --access-log none']:4.2f}"
                    f"  (rounds: {rounds})"
                )
        print("end of a request (metrics + access line), CPU microseconds, in process:")
        for access_log, log_format in (
            ("none", "combined"),
            (ACCESS_FILE, "combined"),
            (ACCESS_FILE, "json"),
        ):
            print(
                f"  --access-log {access_log} --log-format {log_format}: "
                f"{log_cost(access_log, log_format):.2f}"
            )
        print(
            "targets: pypipin with --access-log none >= 0.80 x the bare resource; "
            "with the default access log >= 0.90 x with none"
        )
    finally:
        if bare is not None:
            bare.terminate()
        for daemon in (unlogged, logged, logged_json, to_file):
            daemon.stop()
        upstream.stop()


if __name__ == "__main__":
    main()
