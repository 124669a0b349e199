"""What the benchmarks share: the process helpers of the tests."""

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

from fakepypi import BIG  # noqa: E402
from processes import VARNISHD, Daemon, FakeUpstreamProcess, RedisServer, Varnish, rss_mib, wait_for_port  # noqa: E402
from pypipin.renderer.process import free_port  # noqa: E402
from util import BADGE_NAMES  # noqa: E402

__all__ = ["BADGE_NAMES", "BIG", "VARNISHD", "Daemon", "RedisServer", "FakeUpstreamProcess", "Varnish",
           "free_port", "rss_mib", "wait_for_port"]
