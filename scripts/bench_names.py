"""What a list of every PyPI name would cost (issue 10, point 3): PyPI's simple index in its PEP 691
JSON form (``/simple/`` with ``Accept: application/vnd.pypi.simple.v1+json``), kept as a set of
normal names and refreshed now and then, so a random-name flood costs no call.

No network: a document of the real shape and size is made up (``--names``, about 600,000
projects in 2026: ``{"meta": ..., "projects": [{"name": ..., "_last-serial": ...}, ...]}``),
then decoded the way the daemon would, in this process, measuring bytes, time and memory.
"""

import argparse
import gzip
import json
import os
import random
import string
import time
from pathlib import Path

from packaging.utils import canonicalize_name


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def document(count: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + "-_."
    projects = []
    for serial in range(count):
        name = rng.choice(string.ascii_letters) + "".join(
            rng.choice(alphabet) for _ in range(rng.randint(3, 20))
        )
        projects.append({"name": name + str(serial), "_last-serial": 10_000_000 + serial})
    return json.dumps(
        {"meta": {"_last-serial": 30_000_000, "api-version": "1.1"}, "projects": projects}
    ).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--names", type=int, default=600_000)
    args = parser.parse_args()
    raw = document(args.names)
    packed = gzip.compress(raw, 6)
    before = rss_mib()
    started = time.perf_counter()
    decoded = json.loads(raw)
    decode_s = time.perf_counter() - started
    started = time.perf_counter()
    names = {canonicalize_name(project["name"]) for project in decoded["projects"]}
    normalise_s = time.perf_counter() - started
    del decoded
    kept = rss_mib() - before
    hits = 0
    started = time.perf_counter()
    for _ in range(100_000):
        hits += ("nopkg-" + os.urandom(4).hex()) in names
    lookup_us = (time.perf_counter() - started) / 100_000 * 1e6
    print(f"names                         {len(names):,}")
    print(
        f"document                      {len(raw) / 2**20:.1f} MiB JSON, "
        f"{len(packed) / 2**20:.1f} MiB gzipped"
    )
    print(
        f"json.loads                    {decode_s * 1000:.0f} ms "
        "(the reactor held that long, unless in a thread)"
    )
    print(f"normalise into a set          {normalise_s * 1000:.0f} ms")
    print(f"kept in memory (RSS growth)   {kept:.0f} MiB")
    print(f"lookup                        {lookup_us:.2f} us ({hits} of 100,000 unknown names found)")


if __name__ == "__main__":
    main()
