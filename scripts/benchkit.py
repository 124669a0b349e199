"""What the benchmarks share: the fake upstream in its own process, and tidy shutdown."""

import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

from processes import Daemon, RedisServer, wait_for_port  # noqa: E402
from pypipin.renderer import free_port  # noqa: E402

__all__ = ["Daemon", "RedisServer", "FakeUpstreamProcess", "free_port", "wait_for_port"]


class FakeUpstreamProcess:
    """tests/fakepypi.py serving pkg0..pkg<N-1>, each answer delayed by ``delay`` seconds."""

    def __init__(self, packages: int, delay: float = 0.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen([sys.executable, str(TESTS / "fakepypi.py"), str(self.port), str(packages),
                                         str(delay)])
        wait_for_port(self.port)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()
