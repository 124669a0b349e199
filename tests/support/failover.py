"""A Redis failover under steady traffic, for the Sentinel test and the benchmarks: threads ask the daemons
for a cached badge and, every few requests, a new package's, while the master is SIGKILLed."""

import itertools
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

from pypipin.data.keys import package
from tests.support.processes import Replicated

PROMOTION_WAIT = 30.0  # seconds the Sentinels are given to promote the replica


@dataclass(frozen=True)
class Seen:
    """One answer: when it came, its status (0: no answer), and the new package asked (None: the cached
    badge)."""

    at: float
    code: int
    name: str | None


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def steady(
    urls: list[str],
    cached: str,
    names: Iterator[str],
    stop: threading.Event,
    seen: list[Seen],
    every: int = 4,
) -> None:
    """Round-robin over ``urls`` until ``stop``: the ``cached`` badge path, and each ``every``-th request a
    new package's version badge."""
    count = 0
    while not stop.is_set():
        name = next(names) if count % every == 0 else None
        path = f"/v/{name}/badge.svg" if name else cached
        seen.append(Seen(time.monotonic(), status(urls[count % len(urls)] + path), name))
        count += 1
        time.sleep(0.01)


def failover_gap(
    replicated: Replicated,
    urls: list[str],
    cached: str,
    names: Iterator[str],
    before: float = 2.0,
    after: float = 8.0,
) -> dict[str, float]:
    """SIGKILL the master under steady traffic; what the daemons' clients saw.

    ``promotion_s``: seconds from the kill to the Sentinels naming the replica; ``no_writes_s``: the longest
    time between two new summaries that reached the master in use at the end; ``non_2xx``: answers to the
    cached badge that were not 2xx (``new_non_2xx``: to the new packages); ``requests``: answers in all.
    """
    stop, seen = threading.Event(), []
    traffic = threading.Thread(target=steady, args=(urls, cached, names, stop, seen), daemon=True)
    traffic.start()
    try:
        time.sleep(before)
        old = replicated.master()
        killed = time.monotonic()
        old.stop()
        replicated.wait(lambda: replicated.promoted(old.port), "a promotion", PROMOTION_WAIT)
        promoted = time.monotonic() - killed
        time.sleep(after)
    finally:
        stop.set()
        traffic.join()
    new = replicated.master()
    written = [
        each.at for each in seen if each.name and new.command("EXISTS", package("pypi", each.name)) == "1"
    ]
    return {
        "promotion_s": promoted,
        "no_writes_s": max((b - a for a, b in itertools.pairwise(written)), default=float("inf")),
        "non_2xx": sum(1 for each in seen if each.name is None and not 200 <= each.code < 300),
        "new_non_2xx": sum(1 for each in seen if each.name and not 200 <= each.code < 300),
        "requests": len(seen),
    }
