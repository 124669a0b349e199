"""Freshness: release-to-badge delay and PyPI calls in an hour, with and without the update feed.

A simulated hour on one ``task.Clock`` (tests.support.stack's ``Stack``: the whole app in memory,
the fake PyPI through StubTreq, its feed served as warehouse writes it): 74 packages, each one's
version badge asked every 30 s, and 10 releases spread over its first 50 minutes. After each release, its
package's badge is asked every second until it shows the new version: the delay. The hot path,
the TTLs and the feed's poller run as in a daemon; only the clock is simulated.
"""

import argparse
import statistics

from tests.support.stack import Stack

PACKAGES = 74
RELEASES = 10
HOUR = 3600
EVERY = 30  # seconds between two asks of one package's badge


def run(feed: bool) -> tuple[list[float], int, int]:
    """The release-to-badge delays, the PyPI JSON calls and the feed reads of one simulated hour."""
    stack = Stack("--feed-interval", "60") if feed else Stack("--feed-url", "none")
    names = [f"pkg{n}" for n in range(PACKAGES)]
    for name in names:
        stack.upstream.add(name, version="1.0")
    if feed:
        stack.app.feeds["pypi"].service().startService()
    start = stack.clock.seconds()
    # over the first 50 minutes, so the last shows before the hour ends
    releases = {start + 3000 * (n + 0.5) / RELEASES + 7 * n: names[n * 7] for n in range(RELEASES)}
    waiting: dict[str, float] = {}  # package -> when it was released, until its badge shows it
    delays = []
    for second in range(HOUR):
        now = stack.clock.seconds()
        for when, name in releases.items():
            if when <= now and name not in waiting and when > now - 1:
                stack.upstream.release(name, "2.0")
                waiting[name] = now
        for index, name in enumerate(names):
            if (second + index) % EVERY == 0 or name in waiting:
                shown = stack.get(f"/v/{name}/badge.json").shown[1]
                if name in waiting and shown == "v2.0":
                    delays.append(stack.clock.seconds() - waiting.pop(name))
        if second < HOUR - 1:  # the calls counted are those of [start, start + 1 hour)
            stack.advance(1)
    json_calls = stack.upstream.total("/pypi/")
    return delays, json_calls, stack.upstream.requests["/rss/updates.xml"]


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    print("| mode | release to badge, p50 / max (s) | PyPI JSON calls | feed reads | PyPI calls an hour |")
    print("|---|---|---|---|---|")
    for feed in (False, True):
        delays, calls, reads = run(feed)
        assert len(delays) == RELEASES, delays
        print(
            f"| {'feed (--feed-interval 60)' if feed else 'TTL only (--pypi-ttl 600)'} "
            f"| {statistics.median(delays):.0f} / {max(delays):.0f} | {calls} | {reads} | {calls + reads} |"
        )


if __name__ == "__main__":
    main()
