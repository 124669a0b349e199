"""Soak: minutes of mixed load on one daemon while its dependencies fail on purpose.

Load: badge hits, misses (new packages and new images), unknown packages and hostile
URLs, from a few concurrent clients on loopback. Chaos, one step every 15 s in turn:
SIGKILL the node renderer; kill Redis and start it again 3 s later; switch the fake
upstream to 500, 429, timeouts or garbage for 5 s. Prints requests served, 5xx counts,
p50/p99 latency, and the daemon's RSS and open fds at the start, halfway and the end
(the in-process caches fill towards their bounds in the first half).
"""

import argparse
import os
import random
import signal
import statistics
from pathlib import Path
from urllib.parse import quote

import treq
from twisted.internet import defer, task
from twisted.internet.threads import deferToThread

from pypipin.badges.parsing import STYLES
from scripts.benchkit import BADGE_NAMES, Daemon, FakeUpstreamProcess, RedisServer, wait_for_port

FAULTS = ["500", "429", "timeout", "garbage"]


def resources(pid: int) -> tuple[float, int]:
    """RSS in MiB and open file descriptors of a process."""
    rss = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    return rss / 1024, len(os.listdir(f"/proc/{pid}/fd"))


def next_url(rng: random.Random, packages: int) -> tuple[str, bool]:
    """A path and whether it is a well-formed badge URL."""
    roll = rng.random()
    if roll < 0.5:
        return f"/{rng.choice(BADGE_NAMES[:4])}/pkg{rng.randrange(5)}/badge.svg", True
    if roll < 0.75:
        style, label = rng.choice(STYLES), f"l{rng.randrange(1000)}"
        return (
            f"/{rng.choice(BADGE_NAMES)}/pkg{rng.randrange(packages)}/badge.svg?style={style}&label={label}",
            True,
        )
    if roll < 0.85:
        return f"/v/unknown-{rng.randrange(10**6)}/badge.svg", True
    junk = "".join(chr(rng.randrange(1, 0x3000)) for _ in range(rng.randrange(1, 60)))
    return rng.choice(
        [
            f"/{quote(junk, safe='')}/x/badge.svg",
            f"/v/{quote(junk, safe='')}/badge.svg",
            f"/v/pkg1/badge.svg?label={quote(junk, safe='')}",
            "/v/..%2F..%2Fetc/badge.svg",
        ]
    ), False


async def main(reactor, args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    redis = RedisServer()
    upstream = FakeUpstreamProcess(args.packages)
    daemon = Daemon(upstream.url, redis.url, "--access-log", "none")
    latencies: list[float] = []
    counts = {"requests": 0, "5xx_well_formed": 0, "5xx_other": 0, "errors": 0}
    try:
        wait_for_port(daemon.port)
        await task.deferLater(reactor, 1.0, lambda: None)
        samples = [resources(daemon.process.pid)]
        deadline = reactor.seconds() + args.minutes * 60
        halfway = reactor.callLater(args.minutes * 30, lambda: samples.append(resources(daemon.process.pid)))

        async def client() -> None:
            while reactor.seconds() < deadline:
                path, well_formed = next_url(rng, args.packages)
                began = reactor.seconds()
                try:
                    response = await treq.get(daemon.url + path, timeout=30)
                    await response.content()
                except Exception:
                    counts["errors"] += 1
                    continue
                latencies.append(reactor.seconds() - began)
                counts["requests"] += 1
                if response.code >= 500:
                    counts["5xx_well_formed" if well_formed else "5xx_other"] += 1

        async def chaos() -> None:
            step = 0
            while reactor.seconds() + 15 < deadline:
                await task.deferLater(reactor, 15, lambda: None)
                action = step % 3
                if action == 0:
                    for pid in daemon.children():
                        os.kill(pid, signal.SIGKILL)
                    print("chaos: killed node")
                elif action == 1:
                    redis.stop()
                    print("chaos: killed Redis")
                    await task.deferLater(reactor, 3, lambda: None)
                    await deferToThread(redis.start)
                else:
                    fault = FAULTS[(step // 3) % len(FAULTS)]
                    await deferToThread(upstream.set_fault, fault)
                    print(f"chaos: upstream answers {fault}")
                    await task.deferLater(reactor, 5, lambda: None)
                    await deferToThread(upstream.set_fault, None)
                step += 1

        await defer.gatherResults(
            [defer.ensureDeferred(client()) for _ in range(args.clients)] + [defer.ensureDeferred(chaos())]
        )
        samples.append(resources(daemon.process.pid))
    finally:
        if halfway.active():
            halfway.cancel()
        daemon.stop()
        upstream.stop()
        redis.stop()
    latencies.sort()
    print(
        f"requests served: {counts['requests']} in {args.minutes} min "
        f"({counts['requests'] / (args.minutes * 60):.0f}/s); client errors: {counts['errors']}"
    )
    print(f"5xx: {counts['5xx_well_formed']} for well-formed badge URLs, {counts['5xx_other']} for others")
    print(
        f"latency: p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms"
    )
    print(
        f"daemon RSS at start, halfway, end: {' -> '.join(f'{rss:.1f}' for rss, _ in samples)} MiB; "
        f"open fds: {' -> '.join(str(fds) for _, fds in samples)}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--packages", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    task.react(lambda reactor: defer.ensureDeferred(main(reactor, parser.parse_args())))
