"""Latency of one badge: cold (a package never seen: PyPI fetch, summary, render) and warm
(the same URL again), requests sent one at a time to one daemon on the fake upstream."""

import argparse
import statistics
import time
import urllib.request

from scripts.benchkit import Daemon, FakeUpstreamProcess, RedisServer, wait_for_port


def timed(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url) as response:
        response.read()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    redis = RedisServer()
    upstream = FakeUpstreamProcess(args.requests)
    daemon = Daemon(upstream.url, redis.url)
    try:
        wait_for_port(daemon.port)
        timed(f"{daemon.url}/v/pkg0/badge.svg?style=plastic")  # the renderer is up
        # cold: a new package each time; its image is new too (the version differs per package)
        cold = [timed(f"{daemon.url}/v/pkg{n}/badge.svg") for n in range(1, args.requests)]
        warm = [timed(f"{daemon.url}/v/pkg1/badge.svg") for _ in range(args.requests)]
        for name, found in (("cold", cold), ("warm", warm)):
            found.sort()
            print(
                f"{name}: median {statistics.median(found):6.2f} ms   "
                f"p90 {found[int(len(found) * 0.9)]:6.2f} ms   ({len(found)} requests)"
            )
    finally:
        daemon.stop()
        upstream.stop()
        redis.stop()


if __name__ == "__main__":
    main()
