"""What the benchmarks share: free ports, wrk runs and their parsed figures.

Every run is bounded in time (wrk's own ``-d`` plus a timeout on the
process) and sends traffic only to loopback.
"""
from __future__ import annotations

import base64
import contextlib
import functools
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
USER, PASSWORD = "bench", "bench-password"
AUTHORIZATION = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    socket_errors: int
    bad_responses: int
    #: what wrk printed (a script's done() adds its own lines)
    output: str = ""

    def row(self, name: str) -> str:
        return (f"{name:<38} {self.requests_per_second:>10.0f} req/s  "
                f"p50 {self.p50_ms:6.2f} ms  p99 {self.p99_ms:6.2f} ms  "
                f"errors {self.socket_errors}  non-2xx {self.bad_responses}")


def _milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"cannot read wrk latency {text!r}")
    return float(match.group(1)) * UNITS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    if not (rate and p50 and p99):
        raise ValueError(f"unexpected wrk output:\n{output}")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                       r"timeout (\d+)", output)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(float(rate.group(1)), _milliseconds(p50.group(1)),
                     _milliseconds(p99.group(1)),
                     sum(int(n) for n in errors.groups()) if errors else 0,
                     int(bad.group(1)) if bad else 0, output)


def wrk(url: str, authorization: str, connections: int = 50, seconds: int = 8,
        keep_alive: bool = True, script: Path | None = None) -> WrkResult:
    """One wrk run (2 threads) with Basic auth; closes per request unless keep_alive;
    ``script``: a wrk Lua script (e.g. a request() that varies the query)."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency",
               "--timeout", "5s", "-H", f"Authorization: {authorization}", url]
    if script is not None:
        command[1:1] = ["-s", str(script)]
    if not keep_alive:
        command[-1:-1] = ["-H", "Connection: close"]
    done = subprocess.run(command, capture_output=True, text=True, check=True,
                          timeout=seconds + 30)
    return parse_wrk(done.stdout)


@contextlib.contextmanager
def server_from_checkout(users: Callable[[str], str], name: str = "server"
                         ) -> Iterator[tuple[str, int, int]]:
    """chipmunk-server from the checkout named on the command line (default: this one).

    ``python3 -m benchmarks.X [TREE MODULE]`` runs the same benchmark against
    another checkout (e.g. the previous release, whose CLI module was
    ``chipmunk.server_cli``), for a before/after on one machine.  ``users``
    turns a password hash made by that checkout into the [Users] lines.
    Yields (tree, port, pid); workers = 2, threads = 4.
    """
    tree = sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).resolve().parent.parent)
    module = sys.argv[2] if len(sys.argv) > 2 else "chipmunk.server.cli"
    env = dict(os.environ, PYTHONPATH=tree)
    run = functools.partial(subprocess.run, env=env, cwd=tree, capture_output=True, text=True)
    hashed = run([sys.executable, "-m", module, "hash-password"], input=f"{PASSWORD}\n",
                 check=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix=f"chipmunk-{name}-") as temp:
        port = free_port()
        config = Path(temp) / "server.ini"
        config.write_text(f"[Paths]\nclient_update_dir = {temp}\n[Server]\n"
                          f"listen = 127.0.0.1:{port}\nworkers = 2\nthreads = 4\n"
                          f"[Users]\n{users(hashed)}")
        server = subprocess.Popen([sys.executable, "-m", module, "--config", str(config)],
                                  env=env, cwd=tree, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(port)
            yield tree, port, server.pid
        finally:
            server.terminate()
            server.wait(30)


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port}")
