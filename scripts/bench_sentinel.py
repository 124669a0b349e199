"""The failover gap: three daemons on a Redis master with a replica and three Sentinels (conf/sentinel.conf),
under steady traffic (a cached badge round-robin, and every fourth request a new package's); the master is
SIGKILLed. Per run: seconds to the promotion, the longest time without a new summary reaching the master,
non-2xx answers."""

import argparse
import itertools
import os

from scripts.benchkit import Daemon, FakeUpstreamProcess
from tests.support.failover import failover_gap
from tests.support.processes import Replicated, wait_for_health

PACKAGES = 5000


def run(upstream: FakeUpstreamProcess, first: int) -> dict[str, float]:
    """One failover against three new daemons; the new packages asked start at ``pkg<first>``."""
    replicated = Replicated()
    daemons = [Daemon(upstream.url, replicated.url, "--access-log", "none") for _ in range(3)]
    try:
        for daemon in daemons:
            wait_for_health(daemon.url, timeout=60)
        names = (f"pkg{n}" for n in itertools.count(first))
        return failover_gap(replicated, [daemon.url for daemon in daemons], "/v/pkg0/badge.svg", names)
    finally:
        for daemon in daemons:
            daemon.stop()
        replicated.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    upstream = FakeUpstreamProcess(PACKAGES)
    try:
        print(
            "| run | promotion after kill (s) | longest time without writes (s) "
            "| non-2xx cached | non-2xx new | answers |"
        )
        print("|---|---|---|---|---|---|")
        for number in range(args.runs):
            figures = run(upstream, 1 + number * PACKAGES // args.runs)
            print(
                f"| {number + 1} | {figures['promotion_s']:.1f} | {figures['no_writes_s']:.1f} | "
                f"{figures['non_2xx']:.0f} | {figures['new_non_2xx']:.0f} | {figures['requests']:.0f} |"
            )
        print(f"load average: {' '.join(f'{each:.2f}' for each in os.getloadavg())}")
    finally:
        upstream.stop()


if __name__ == "__main__":
    main()
