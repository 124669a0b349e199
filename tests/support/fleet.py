"""A fleet of real daemons on one Redis, and requests spread round-robin over them from loopback addresses:
what tests/system/test_fleet_limits.py checks and scripts/bench_fleet.py measures."""

import http.client
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tests.support.processes import Daemon, FakeUpstreamProcess, RedisServer, wait_for_health


@dataclass
class Fleet:
    """``size`` daemons on ``redis``; ``shared=False`` gives each a Redis database of its own (nothing
    shared: what each daemon's limits are alone)."""

    upstream: FakeUpstreamProcess
    redis: RedisServer
    daemons: list[Daemon]

    @classmethod
    def start(
        cls,
        upstream: FakeUpstreamProcess,
        redis: RedisServer,
        *extra: str,
        size: int = 3,
        shared: bool = True,
    ) -> "Fleet":
        daemons = [
            Daemon(upstream.url, f"redis://127.0.0.1:{redis.port}/{0 if shared else n}", *extra)
            for n in range(size)
        ]
        for daemon in daemons:
            wait_for_health(daemon.url, timeout=90)
        return cls(upstream, redis, daemons)

    def stop(self) -> None:
        for daemon in self.daemons:
            daemon.stop()

    def calls_within(self, prefix: str, seconds: float) -> Callable[[], int]:
        """What ``calls(prefix)`` says ``seconds`` from now (read once that time has come)."""
        seen: list[int] = []
        timer = threading.Timer(seconds, lambda: seen.append(self.calls(prefix)))
        timer.start()
        return lambda: timer.join() or seen[0]

    def calls(self, prefix: str) -> int:
        """Upstream calls so far to paths starting with ``prefix`` (``/pypi/``, ``/api/``)."""
        return sum(count for path, count in self.upstream.requests().items() if path.startswith(prefix))


def get(url: str, source: str = "127.0.0.1") -> tuple[int, bytes]:
    """GET ``url`` from the loopback address ``source``: the status and body."""
    host, _, rest = url.removeprefix("http://").partition("/")
    name, port = host.split(":")
    connection = http.client.HTTPConnection(name, int(port), timeout=30, source_address=(source, 0))
    try:
        connection.request("GET", "/" + rest)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def spread(
    fleet: Fleet, paths: list[str], sources: list[str], seconds: float, at_once: int = 8
) -> list[tuple[int, bytes]]:
    """Each of ``paths`` asked of the next daemon, from the next of ``sources``, evenly over ``seconds``
    (0: as fast as ``at_once`` requests at a time go)."""
    started = time.monotonic()

    def one(n: int) -> tuple[int, bytes]:
        delay = started + n * seconds / len(paths) - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        daemon = fleet.daemons[n % len(fleet.daemons)]
        return get(daemon.url + paths[n], sources[n % len(sources)])

    with ThreadPoolExecutor(at_once if not seconds else len(paths)) as pool:
        return list(pool.map(one, range(len(paths))))


def addresses(count: int, first: int = 10) -> list[str]:
    """``count`` loopback addresses, each another client: 127.0.1.<first>, ..."""
    return [f"127.0.{1 + n // 200}.{first + n % 200}" for n in range(count)]
