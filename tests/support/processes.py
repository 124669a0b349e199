"""Real processes for tests and benchmarks: redis-server on a free port (alone, or a master, a replica
and three Sentinels), and pypipin daemons."""

import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from twisted.internet.threads import deferToThread

from pypipin.renderer.process import free_port

ROOT = Path(__file__).resolve().parents[2]
VARNISHD = shutil.which("varnishd") or "/usr/sbin/varnishd"
VARNISHADM = shutil.which("varnishadm") or "/usr/bin/varnishadm"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
TWISTD = str(Path(sys.executable).with_name("twistd"))
PYPIPIN = str(Path(sys.executable).with_name("pypipin"))


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


def wait_for_health(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=5):
                return
        except OSError:  # refused, or an HTTPError (503) while node starts
            time.sleep(0.1)
    raise TimeoutError(f"{url}/health never answered 200")


def rss_mib(pid: int) -> float:
    """A process's resident memory, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


class RedisServer:
    """A throwaway redis-server on a free loopback port, never the machine's own.

    ``extra`` are more redis-server arguments (``--user ...``, ``--tls-port ...``).
    """

    available = shutil.which("redis-server") is not None

    def __init__(self, *extra: str) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="pypipin-redis-")
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def command(self, *args: str) -> str:
        return subprocess.run(
            ["redis-cli", "-p", str(self.port), *args], check=True, capture_output=True, text=True
        ).stdout.strip()


class Sentinel:
    """``redis-server --sentinel`` with conf/sentinel.conf, on a free port, watching the master on
    ``master_port``."""

    def __init__(self, master_port: int) -> None:
        self.port = free_port()
        text = (ROOT / "conf" / "sentinel.conf").read_text()
        for pattern, line in (
            (r"(?m)^port \d+$", f"port {self.port}"),
            (
                r"(?m)^sentinel monitor pypipin 127\.0\.0\.1 \d+ 2$",
                f"sentinel monitor pypipin 127.0.0.1 {master_port} 2",
            ),
        ):
            text, count = re.subn(pattern, line, text)
            assert count == 1, pattern
        self.config = Path(tempfile.mkdtemp(prefix="pypipin-sentinel-"), "sentinel.conf")
        self.config.write_text(text)  # Sentinel rewrites its file: each has its own
        self.process = subprocess.Popen(
            ["redis-server", str(self.config), "--sentinel"], stdout=subprocess.DEVNULL
        )
        wait_for_port(self.port)

    def command(self, *args: str) -> str:
        return subprocess.run(
            ["redis-cli", "-p", str(self.port), *args], check=True, capture_output=True, text=True
        ).stdout.strip()

    def master(self) -> int:
        """The port of the master this Sentinel names."""
        return int(self.command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "pypipin").split()[1])

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


class Replicated:
    """A master, its replica and three Sentinels watching them, as conf/sentinel.conf lays them out."""

    MASTER = "pypipin"

    def __init__(self) -> None:
        self.servers = [RedisServer()]
        self.servers.append(RedisServer("--replicaof", "127.0.0.1", str(self.servers[0].port)))
        self.sentinels = [Sentinel(self.servers[0].port) for _ in range(3)]
        self.wait(lambda: self._settled(), "the replica in sync and the Sentinels knowing each other")

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{each.port}" for each in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.MASTER}/0"

    def _settled(self) -> bool:
        states = []
        for sentinel in self.sentinels:
            fields = sentinel.command("SENTINEL", "MASTER", self.MASTER).split("\n")
            state = dict(zip(fields[::2], fields[1::2], strict=False))
            states.append(state.get("num-slaves") == "1" and state.get("num-other-sentinels") == "2")
        link = self.servers[1].command("INFO", "replication")
        return all(states) and "master_link_status:up" in link

    @staticmethod
    def wait(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.1)
        raise TimeoutError(f"not within {timeout} s: {what}")

    def master(self) -> RedisServer:
        """The server every Sentinel names as the master."""
        ports = {sentinel.master() for sentinel in self.sentinels}
        assert len(ports) == 1, ports
        return next(server for server in self.servers if server.port in ports)

    def promoted(self, old: int) -> bool:
        """Whether every Sentinel names a master other than the one on port ``old``."""
        return all(sentinel.master() != old for sentinel in self.sentinels)

    def stop(self) -> None:
        for each in [*self.sentinels, *self.servers]:
            each.stop()


class Daemon:
    """``twistd -n pypipin`` in a subprocess, as a user runs it."""

    def __init__(
        self, upstream_url: str, redis_url: str, *extra: str, nofile: int | None = None, workers: int = 1
    ) -> None:
        """``nofile``: the daemon's open-files limit, when it should be lower than ours; ``workers``: its
        --workers."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="pypipin-log-", suffix=".txt", delete=False).name
        self.out = tempfile.NamedTemporaryFile(prefix="pypipin-stdout-", suffix=".txt", delete=False).name
        args = [
            TWISTD,
            "--pidfile=",
            "-n",
            "--logfile",
            self.log,
            "pypipin",
            "--port",
            f"tcp:{self.port}:backlog=1024:interface=127.0.0.1",
            "--redis",
            redis_url,
            "--pypi-url",
            upstream_url + "/pypi",
            "--stats-url",
            upstream_url + "/api",
            "--upstream-timeout",
            "2",
            "--workers",
            str(workers),
            "--downloads-source",  # never the public ClickHouse: a test that wants one names its double
            "pypistats",
            *extra,
        ]
        limit = (
            None if nofile is None else lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        )
        with open(self.out, "wb") as out:  # where the default access log goes
            self.process = subprocess.Popen(args, cwd=tempfile.gettempdir(), preexec_fn=limit, stdout=out)

    async def ready(self) -> "Daemon":
        """Waits (in a thread, so the reactor and anything served in it keep running) for the port."""
        await deferToThread(wait_for_port, self.port)
        return self

    async def drawing(self) -> "Daemon":
        """Waits for the port, then for /health's 200: the renderer draws (node may take seconds under
        load)."""
        await self.ready()
        await deferToThread(wait_for_health, self.url)
        return self

    def log_text(self) -> str:
        """The twistd log, with what SIGUSR1 rotated out of it (twistd's own rotation)."""
        rotated = sorted(Path(self.log).parent.glob(Path(self.log).name + ".*"), reverse=True)
        return "".join(path.read_text(errors="replace") for path in [*rotated, Path(self.log)])

    def out_text(self) -> str:
        return Path(self.out).read_text(errors="replace")

    def children(self) -> list[int]:
        """PIDs of this daemon's child processes (the node renderer)."""
        found = []
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                fields = dict(
                    line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
                )
            except OSError:
                continue
            if fields.get("PPid", "").strip() == str(self.process.pid):
                found.append(int(status.parent.name))
        return found

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


class FakeUpstreamProcess:
    """tests/support/fakepypi.py in its own process, serving pkg0..pkg<N-1> and the big documents, each
    answer delayed by ``delay`` s; ``hostile`` adds ``huge``, a document of 300,000 releases."""

    def __init__(self, packages: int, delay: float = 0.0, hostile: bool = False) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).with_name("fakepypi.py")),
                str(self.port),
                str(packages),
                str(delay),
                *(["hostile"] if hostile else []),
            ]
        )
        wait_for_port(self.port, timeout=60)

    def requests(self) -> dict[str, int]:
        return json.loads(urllib.request.urlopen(self.url + "/_requests").read())

    def sent(self) -> int:
        """Bytes the fake has written to its connections."""
        return int(urllib.request.urlopen(self.url + "/_sent").read())

    def set_fault(self, fault: str | None) -> None:
        urllib.request.urlopen(f"{self.url}/_fault?set={fault or ''}").read()

    def set_validators(self, *names: str) -> None:
        """The validators the fake gives: ``etag``, ``last-modified``; none: every fetch is whole."""
        urllib.request.urlopen(f"{self.url}/_validators?set={','.join(names)}").read()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def vcl_for(name: str, ports: dict[int, int]) -> str:
    """conf/<name> with backend ports replaced (old -> new), and what it includes, in files varnishd's
    user can read."""
    folder = tempfile.mkdtemp(prefix="pypipin-varnish-")
    os.chmod(folder, 0o755)
    text = (ROOT / "conf" / name).read_text()
    for old, new in ports.items():
        assert f'.port = "{old}";' in text
        text = text.replace(f'.port = "{old}";', f'.port = "{new}";')
    path = Path(folder, name)
    path.write_text(text)
    included = Path(folder, "varnish-badges.vcl")  # what both VCLs include, from beside them
    included.write_text((ROOT / "conf" / included.name).read_text())
    for each in (path, included):
        each.chmod(0o644)
    return str(path)


class Varnish:
    """varnishd in the foreground with conf/<name>, its backends moved to the given ports."""

    def __init__(self, name: str, ports: dict[int, int]) -> None:
        config = vcl_for(name, ports)
        self.workdir = os.path.dirname(config) + "/work"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                VARNISHD,
                "-F",
                "-n",
                self.workdir,
                "-a",
                f"127.0.0.1:{self.port}",
                "-f",
                config,
                "-s",
                "malloc,32m",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def wait_healthy(self, timeout: float = 15.0) -> None:
        """Until every backend's probe says healthy (a backend starts sick, so the first requests
        would get the synthetic ``unavailable`` badge until its first probe passes)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            listed = subprocess.run(
                [VARNISHADM, "-n", self.workdir, "backend.list"], capture_output=True, text=True
            )
            rows = [line.split() for line in listed.stdout.splitlines()[1:] if line.strip()]
            if rows and all("healthy" in row for row in rows):
                return
            time.sleep(0.1)
        raise AssertionError(f"varnish backends not healthy within {timeout} s: {listed.stdout}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


class HAProxy:
    """haproxy in the foreground with conf/haproxy.cfg: listening on a free loopback port, every
    server moved to ``port``, health checks off (the daemon is up before it starts)."""

    def __init__(self, port: int) -> None:
        text = (ROOT / "conf" / "haproxy.cfg").read_text()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        assert "    bind :80\n" in text
        text = text.replace("    bind :80\n", f"    bind 127.0.0.1:{self.port}\n")
        text = re.sub(r"(?m)^(    server \S+) 127\.0\.0\.1:\d+ check.*$", rf"\1 127.0.0.1:{port}", text)
        text = text.replace("    maxconn 20000\n", "    maxconn 200\n")
        self.config = Path(tempfile.mkdtemp(prefix="pypipin-haproxy-"), "haproxy.cfg")
        self.config.write_text(text)
        self.process = subprocess.Popen(
            [HAPROXY, "-db", "-f", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
