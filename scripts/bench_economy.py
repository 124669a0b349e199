"""Economy: upstream calls and renders for a burst of 1,000 concurrent badge requests.

Scenarios: 1 package and 50 packages, on 1 daemon and on 3 daemons sharing one Redis
(requests spread round-robin), against the fake upstream (each answer delayed a little,
so the burst arrives while the first fetches are under way). Target: PyPI calls ==
distinct packages, stats calls == distinct packages asked for downloads, renders ==
distinct images.

Then refreshes of unchanged packages: two daemons on one Redis (``--pypi-ttl 1``) asked
in turn for a badge of each big document (uv, numpy, boto3) once a second: each refresh is
a conditional request that PyPI (the fake) answers 304. Target: bytes sent per refresh
under 1% of the decoded document.
"""

import argparse
import re
import urllib.request

import treq
from twisted.internet import defer, task

from pypipin.badges.parsing import STYLES
from scripts.benchkit import BADGE_NAMES, BIG, Daemon, FakeUpstreamProcess, RedisServer, wait_for_port


def urls_for(daemons: list[Daemon], packages: int, count: int) -> list[str]:
    combos = [(kind, style) for kind in BADGE_NAMES for style in STYLES]
    urls = []
    for i in range(count):
        kind, style = combos[(i // packages) % len(combos)]
        urls.append(f"{daemons[i % len(daemons)].url}/{kind}/pkg{i % packages}/badge.svg?style={style}")
    return urls


def renders(daemon: Daemon) -> int:
    text = urllib.request.urlopen(daemon.url + "/metrics").read().decode()
    found = re.search(r'^pypipin_renders_total\{outcome="ok"\} (\S+)$', text, re.M)
    return int(float(found.group(1))) if found else 0


async def fire(urls: list[str]) -> list[tuple[int, bytes]]:
    async def one(url: str) -> tuple[int, bytes]:
        response = await treq.get(url)
        return response.code, await response.content()

    return await defer.gatherResults([defer.ensureDeferred(one(url)) for url in urls])


async def scenario(reactor, daemon_count: int, packages: int, count: int, delay: float) -> dict:
    redis = RedisServer()
    upstream = FakeUpstreamProcess(50, delay)
    # a stats rate high enough that our own pypistats limit does not hide the counts here
    # budgets out of the way too: one client (this script) asks for every package and image
    daemons = [
        Daemon(
            upstream.url,
            redis.url,
            "--stats-rate",
            "100000",
            "--client-renders",
            "100000",
            "--global-renders",
            "100000",
            "--pypi-rate",
            "100000",
        )
        for _ in range(daemon_count)
    ]
    try:
        for daemon in daemons:
            wait_for_port(daemon.port)
        await task.deferLater(reactor, 1.0, lambda: None)  # let each daemon's renderer come up
        urls = urls_for(daemons, packages, count)
        answers = await fire(urls)
        calls = upstream.requests()
        names = {url.split("/")[4] for url in urls}
        with_downloads = {url.split("/")[4] for url in urls if url.split("/")[3] == "d"}
        return {
            "daemons": daemon_count,
            "packages": len(names),
            "requests": len(urls),
            "non_200": sum(code != 200 for code, _ in answers),
            "pypi_calls": sum(n for path, n in calls.items() if path.startswith("/pypi/")),
            "stats_calls": sum(n for path, n in calls.items() if path.startswith("/api/")),
            "expected_stats": len(with_downloads),
            "distinct_images": len({body for _, body in answers}),
            "renders": sum(renders(daemon) for daemon in daemons),
        }
    finally:
        for daemon in daemons:
            daemon.stop()
        upstream.stop()
        redis.stop()


async def refreshes(reactor, count: int) -> None:
    redis = RedisServer()
    upstream = FakeUpstreamProcess(1)
    daemons = [Daemon(upstream.url, redis.url, "--pypi-ttl", "1") for _ in range(2)]
    try:
        for daemon in daemons:
            wait_for_port(daemon.port)
        print(
            f"{'package':>8} {'decoded':>9} {'1st fetch':>9} {'refreshes':>9} {'pypi calls':>10} "
            f"{'bytes/refresh':>13} {'of decoded':>10}"
        )
        for name in BIG:
            decoded = len(urllib.request.urlopen(f"{upstream.url}/pypi/{name}/json").read())  # no gzip asked
            sent, calls = upstream.sent(), upstream.requests().get(f"/pypi/{name}/json", 0)
            await fire([f"{daemons[0].url}/v/{name}/badge.svg"])
            first = upstream.sent() - sent
            sent, calls = upstream.sent(), upstream.requests().get(f"/pypi/{name}/json", 0)
            for n in range(count):
                await task.deferLater(reactor, 1.1, lambda: None)  # the summary is due again
                await fire([f"{daemons[n % 2].url}/v/{name}/badge.svg?n={n}"])
            each = (upstream.sent() - sent) / count
            calls = upstream.requests().get(f"/pypi/{name}/json", 0) - calls
            print(
                f"{name:>8} {decoded:>9} {first:>9} {count:>9} {calls:>10} {each:>13.0f} "
                f"{each / decoded:>10.3%}"
            )
    finally:
        for daemon in daemons:
            daemon.stop()
        upstream.stop()
        redis.stop()


async def main(reactor, args: argparse.Namespace) -> None:
    print(
        f"{'daemons':>7} {'packages':>8} {'requests':>8} {'non-200':>7} {'pypi calls':>10} "
        f"{'stats calls':>11} {'(expected)':>10} {'images':>6} {'renders':>7}"
    )
    for daemon_count in (1, 3):
        for packages in (1, 50):
            row = await scenario(reactor, daemon_count, packages, args.requests, args.delay)
            print(
                f"{row['daemons']:>7} {row['packages']:>8} {row['requests']:>8} {row['non_200']:>7} "
                f"{row['pypi_calls']:>10} {row['stats_calls']:>11} {row['expected_stats']:>10} "
                f"{row['distinct_images']:>6} {row['renders']:>7}"
            )
    print()
    await refreshes(reactor, args.refreshes)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--delay", type=float, default=0.2, help="seconds the fake upstream takes to answer")
    parser.add_argument("--refreshes", type=int, default=6, help="refreshes of each unchanged big document")
    task.react(lambda reactor: defer.ensureDeferred(main(reactor, parser.parse_args())))
