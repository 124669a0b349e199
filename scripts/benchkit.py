"""What the benchmarks share: the process helpers of the tests (tests.support)."""

from pypipin.renderer.process import free_port
from tests.support.fakepypi import BIG
from tests.support.processes import (
    VARNISHD,
    Daemon,
    FakeUpstreamProcess,
    RedisServer,
    Varnish,
    rss_mib,
    wait_for_port,
)
from tests.support.stack import BADGE_NAMES

__all__ = [
    "BADGE_NAMES",
    "BIG",
    "VARNISHD",
    "Daemon",
    "FakeUpstreamProcess",
    "RedisServer",
    "Varnish",
    "free_port",
    "rss_mib",
    "wait_for_port",
]
