"""Hot path: requests/s for a cached badge, pypipin against a bare twisted.web resource.

All servers answer the same bytes with the same headers; wrk drives each in turn,
several rounds interleaved, in one run, so the machine's noise hits all alike. The
bare resource's Site keeps no access log, so pypipin is measured with
``--access-log none`` (the same work), with its default access log (the twistd log) and
with the access log written to a file of its own.
"""

import argparse
import re
import statistics
import subprocess
import sys
import urllib.request

from benchkit import Daemon, FakeUpstreamProcess, free_port, wait_for_port

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


def wrk(url: str, seconds: int, connections: int) -> float:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url], capture_output=True, text=True,
                         check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} failed responses")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5, help="length of one wrk round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per server, interleaved")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--serve-bare", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        port, body_file, *headers = args.serve_bare
        return serve_bare(int(port), body_file, headers)

    upstream = FakeUpstreamProcess(1)
    unlogged = Daemon(upstream.url, "none", "--access-log", "none")
    logged = Daemon(upstream.url, "none")
    to_file = Daemon(upstream.url, "none", "--access-log", "/tmp/pypipin-bench-access.log")
    bare = None
    try:
        path = "/v/pkg0/badge.svg?style=flat-square"
        for daemon in (unlogged, logged, to_file):
            wait_for_port(daemon.port)
            response = urllib.request.urlopen(daemon.url + path, timeout=30)
            body = response.read()
        headers = [f"{name}: {response.headers[name]}" for name in HEADERS]
        with open("/tmp/pypipin-bench-body", "wb") as out:
            out.write(body)
        bare_port = free_port()
        bare = subprocess.Popen([sys.executable, __file__, "--serve-bare", str(bare_port), "/tmp/pypipin-bench-body",
                                 *headers])
        wait_for_port(bare_port)
        bare_url = f"http://127.0.0.1:{bare_port}"
        assert urllib.request.urlopen(bare_url + path).read() == body
        servers = {
            "bare twisted.web resource": bare_url,
            "pypipin, --access-log none": unlogged.url,
            "pypipin, default access log": logged.url,
            "pypipin, --access-log FILE": to_file.url,
        }
        rates: dict[str, list[float]] = {name: [] for name in servers}
        for _ in range(args.rounds):
            for name, url in servers.items():
                rates[name].append(wrk(url + path, args.seconds, args.connections))
        medians = {name: statistics.median(found) for name, found in rates.items()}
        baseline = medians["bare twisted.web resource"]
        for name, found in rates.items():
            rounds = ", ".join(f"{rate:.0f}" for rate in found)
            print(f"{name:28} {medians[name]:8.0f} req/s  ratio {medians[name] / baseline:4.2f}  (rounds: {rounds})")
        print("target: pypipin with --access-log none >= 0.80 x the bare resource")
    finally:
        if bare is not None:
            bare.terminate()
        for daemon in (unlogged, logged, to_file):
            daemon.stop()
        upstream.stop()


if __name__ == "__main__":
    main()
