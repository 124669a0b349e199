"""Three daemons on one Redis, requests spread round-robin over them: upstream calls against each
fleet-wide limit and one client's budget across the fleet, before (each daemon's limits its own: a Redis
database each, which for these distinct names is what main's in-process limits were) and after (the
fleet's, shared in Redis). One table, a row a figure: more rows (failover gap, workers) go beside these.

- pypistats: 60 distinct download badges in 30 s, `--stats-rate 12`, each from another address;
- PyPI: the 74 packages of a fresh cache in 10 s, `--pypi-rate 2`, each from another address;
- one client's names: 400 made-up names from one address (`--client-names 60`);
- one client's renders: 200 new images (distinct labels of one cached badge) from one address in 10 s
  (`--client-renders 60`).

Then, beside them: the failover gap (three daemons on a Redis master with a replica and three Sentinels,
`conf/sentinel.conf`, under steady traffic: a cached badge round-robin and every fourth request a new
package's; the master SIGKILLed: seconds to the promotion, the longest time without a new summary
reaching the master, non-2xx answers), and cached badges a second of `--workers 1` against `--workers 2`
under the same load (wrk, rounds interleaved)."""

import argparse
import itertools
import os
import re
import statistics
import urllib.request
from collections.abc import Callable

from scripts.bench_hot import workers_rates
from tests.support.failover import failover_gap
from tests.support.fleet import Fleet, addresses, spread
from tests.support.processes import Daemon, FakeUpstreamProcess, RedisServer, Replicated, wait_for_health

Row = tuple[str, list[str], Callable[[Fleet], int | str]]  # what, the options it runs with, how


def stats_calls(fleet: Fleet) -> int:
    before = fleet.calls("/api/")
    spread(fleet, [f"/d/pkg{n}/badge.svg" for n in range(60)], addresses(60), seconds=30)
    return fleet.calls("/api/") - before


def pypi_calls(fleet: Fleet) -> str:
    before = fleet.calls("/pypi/")
    within = fleet.calls_within("/pypi/", 10)
    answers = spread(fleet, [f"/v/pkg{n}/badge.svg" for n in range(74)], addresses(74, 100), seconds=10)
    fives = sum(status >= 500 for status, _ in answers)
    return f"{within() - before} ({fleet.calls('/pypi/') - before} with the waits; {fives} 5xx)"


def names_calls(fleet: Fleet) -> int:
    """PyPI calls for 400 made-up names: JSON, and the simple API's (is the name quarantined?)."""
    before = fleet.calls("/pypi/") + fleet.calls("/simple/")
    spread(fleet, [f"/v/made-up-{n}/badge.svg" for n in range(400)], ["127.0.0.2"], 0, at_once=16)
    return fleet.calls("/pypi/") + fleet.calls("/simple/") - before


def renders(fleet: Fleet) -> int:
    def drawn() -> int:
        total = 0
        for daemon in fleet.daemons:
            page = urllib.request.urlopen(daemon.url + "/metrics").read().decode()
            total += sum(
                int(float(n))
                for n in re.findall(r'^pypipin_renders_total\{outcome="ok"\} (\S+)$', page, re.M)
            )
        return total

    spread(fleet, ["/v/pkg0/badge.svg"], ["127.0.0.1"], 0)  # the package cached
    before = drawn()
    spread(fleet, [f"/v/pkg0/badge.svg?label=l{n}" for n in range(200)], ["127.0.0.4"], seconds=10)
    return drawn() - before


ROWS: list[Row] = [
    ("pypistats calls: 60 new download badges in 30 s", ["--stats-rate", "12"], stats_calls),
    ("PyPI calls in 10 s: 74 new packages in 10 s", ["--pypi-rate", "2"], pypi_calls),
    ("one client's PyPI calls: 400 made-up names", ["--client-names", "60"], names_calls),
    ("one client's renders: 200 new images in 10 s", ["--client-renders", "60"], renders),
]


def measure(shared: bool) -> list[int | str]:
    """Each row's figure on a fleet of its own (fresh caches and buckets)."""
    figures: list[int | str] = []
    for _, options, run in ROWS:
        upstream, redis = FakeUpstreamProcess(80), RedisServer()
        fleet = Fleet.start(upstream, redis, *options, "--access-log", "none", shared=shared)
        try:
            figures.append(run(fleet))
        finally:
            fleet.stop()
            redis.stop()
            upstream.stop()
    return figures


def failover() -> str:
    """One failover of a Sentinel-watched master under three new daemons' traffic, in a row's words."""
    upstream, replicated = FakeUpstreamProcess(5000), Replicated()
    daemons = [Daemon(upstream.url, replicated.url, "--access-log", "none") for _ in range(3)]
    try:
        for daemon in daemons:
            wait_for_health(daemon.url, timeout=60)
        names = (f"pkg{n}" for n in itertools.count(1))
        gap = failover_gap(replicated, [daemon.url for daemon in daemons], "/v/pkg0/badge.svg", names)
    finally:
        for daemon in daemons:
            daemon.stop()
        replicated.stop()
        upstream.stop()
    return (
        f"promoted {gap['promotion_s']:.1f} s after the kill; {gap['no_writes_s']:.1f} s without writes; "
        f"non-2xx {gap['non_2xx'] + gap['new_non_2xx']:.0f} of {gap['requests']:.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="wrk rounds for each worker count, interleaved")
    args = parser.parse_args()
    before, after = measure(shared=False), measure(shared=True)
    gap = failover()
    rates = {count: statistics.median(found) for count, found in workers_rates(args.rounds, 5, 32).items()}
    print(f"3 daemons on one Redis, load average {os.getloadavg()[0]:.1f}")
    print("| figure | option | before: each daemon's limits | after: the fleet's |")
    print("|---|---|---|---|")
    for (figure, limit, _), was, now in zip(ROWS, before, after, strict=True):
        print(f"| {figure} | `{' '.join(limit)}` | {was} | {now} |")
    print(
        "| failover: the Redis master SIGKILLed under traffic on 3 daemons | `--redis redis+sentinel://...` "
        f"| one plain Redis: no promotion, no writes until it is back | {gap} |"
    )
    print(
        "| cached badges a second, one daemon, wrk 32 connections | `--workers 2` "
        f"| {rates[1]:.0f} (1 worker) | {rates[2]:.0f} ({rates[2] / rates[1]:.2f}x) |"
    )


if __name__ == "__main__":
    main()
