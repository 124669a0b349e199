"""Start times: `./scripts/run` with nothing changed, and `twistd -n pypipin` with an empty HOME on
a cold npm cache (the renderer is provisioned), then again (it is reused). Each: seconds to the
first HTTP answer and to /health 200 (a badge can be drawn); plus the renderer directory's size."""

import argparse
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from scripts.benchkit import free_port
from tests.support.processes import ROOT, TWISTD


def start(argv: list[str], env: dict[str, str], timeout: float) -> tuple[float, float]:
    """Seconds from the command to its first HTTP answer, and to /health 200."""
    port = free_port()
    began = time.monotonic()
    process = subprocess.Popen(
        [
            *argv,
            "--redis",
            "none",
            "--port",
            f"tcp:{port}:interface=127.0.0.1",
            "--access-log",
            "none",
            "--pypi-url",
            "http://127.0.0.1:9/pypi",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    first = None
    try:
        while time.monotonic() - began < timeout:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    return first or time.monotonic() - began, time.monotonic() - began
            except urllib.error.HTTPError:
                first = first or time.monotonic() - began
            except OSError:
                pass
            time.sleep(0.02)
        raise TimeoutError(f"{argv[0]}: no /health 200 within {timeout} s")
    finally:
        process.terminate()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="runs of ./scripts/run with nothing changed")
    args = parser.parse_args()
    for run in range(args.runs):
        first, healthy = start([str(ROOT / "scripts" / "run")], dict(os.environ), 60)
        print(
            f"./scripts/run, nothing changed (run {run + 1}): first answer {first:.2f} s, "
            f"/health 200 {healthy:.2f} s"
        )
    scratch = Path(tempfile.mkdtemp(prefix="pypipin-bench-start-"))
    try:
        env = {**os.environ, "HOME": str(scratch / "home"), "npm_config_cache": str(scratch / "npm")}
        env.pop("XDG_CACHE_HOME", None)
        for which in ("first start, empty HOME, cold npm cache", "later start, same HOME"):
            first, healthy = start([TWISTD, "-n", "--pidfile=", "pypipin"], env, 300)
            print(f"twistd -n pypipin, {which}: first answer {first:.2f} s, /health 200 {healthy:.2f} s")
        renderer = next((scratch / "home" / ".cache" / "pypipin" / "renderer").iterdir())
        size = sum(path.stat().st_size for path in renderer.rglob("*") if path.is_file())
        print(f"renderer directory: {size / 2**20:.1f} MiB ({renderer.name})")
    finally:
        shutil.rmtree(scratch)


if __name__ == "__main__":
    main()
