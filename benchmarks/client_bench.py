"""chipmunk-client: cold start of ``once``, and the daemon's memory and idle cost.

- ``once`` when nothing changed, run cold (a new interpreter each time, as
  the timer does), beside ``python3 -c pass`` and ``python3 -c "import
  requests"`` measured in the same run: the ratio says what Chipmunk adds.
- The daemon at a 0.1 s interval for 200 cycles (each a real request to a
  local chipmunk-server): resident memory after 20 and after 200 cycles.
- The daemon idle between checks (interval 1 h, no watchdog) for 5 s: CPU
  time used and the number of times it woke up (voluntary context switches).
"""
from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .harness import free_port
from .server_bench import start_chipmunk, stop

RUNS = 15
CYCLES = 200
IDLE_SECONDS = 5.0


def timed(argv: list[str], runs: int = RUNS) -> float:
    """Median wall time of ``argv`` over ``runs`` cold starts."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, timeout=60)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def client_config(directory: Path, port: int, interval: str) -> Path:
    config = directory / f"client-{interval}.ini"
    config.write_text(f"[Global]\nstate_dir = {directory / 'client-state'}\n"
                      f"[ChipmunkAPIServer]\nusername = bench\npassword = bench-password\n"
                      f"endpoint = http://127.0.0.1:{port}\n[Daemon]\ninterval = {interval}\n"
                      f"[dDNS]\nprovider = hostsfile\n[hostsfile]\n"
                      f"path = {directory / 'hosts'}\nnames = bench.lan\n")
    config.chmod(0o600)
    return config


def proc_status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def running_daemon(config: Path, notify_path: Path
                   ) -> Iterator[tuple[subprocess.Popen, socket.socket]]:
    """``chipmunk-client run`` and its notify socket, stopped afterwards."""
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.settimeout(30)
    daemon = subprocess.Popen([sys.executable, "-m", "chipmunk.client.cli", "--config",
                               str(config), "run"],
                              env=dict(os.environ, NOTIFY_SOCKET=str(notify_path)),
                              stderr=subprocess.DEVNULL)
    try:
        yield daemon, notify
    finally:
        stop(daemon)
        notify.close()


def wait_statuses(notify: socket.socket, count: int) -> None:
    """Wait for ``count`` STATUS= messages (one per finished cycle)."""
    seen = 0
    deadline = time.monotonic() + 120
    while seen < count and time.monotonic() < deadline:
        if b"STATUS=Address" in notify.recv(4096):
            seen += 1
    if seen < count:
        raise SystemExit(f"only {seen} of {count} cycles within 120 s")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="chipmunk-client-bench-") as temp:
        directory = Path(temp)
        port = free_port()
        server, server_notify = start_chipmunk(directory, port, "bench-password", 1)
        try:
            once = client_config(directory, port, "300")
            command = [sys.executable, "-m", "chipmunk.client.cli", "--config", str(once),
                       "once"]
            subprocess.run(command, check=True, timeout=60)  # the first run updates
            ours = timed(command)
            bare = timed([sys.executable, "-c", "pass"])
            requests_only = timed([sys.executable, "-c", "import requests"])
            print(f"\n== cold 'chipmunk-client once' with nothing to do, median of {RUNS}")
            print(f"chipmunk-client once        {ours * 1000:7.1f} ms  (goal < 300 ms)")
            print(f"python3 -c pass             {bare * 1000:7.1f} ms  ratio {ours / bare:.1f}")
            print(f"python3 -c 'import requests' {requests_only * 1000:6.1f} ms  "
                  f"ratio {ours / requests_only:.1f}")

            with running_daemon(client_config(directory, port, "0.1"),
                                directory / "daemon.sock") as (daemon, notify):
                wait_statuses(notify, 20)
                early = proc_status(daemon.pid, "VmRSS")
                wait_statuses(notify, CYCLES - 20)
                late = proc_status(daemon.pid, "VmRSS")
            print(f"\n== daemon, {CYCLES} cycles at 0.1 s")
            print(f"resident after 20 cycles    {early / 1024:7.1f} MB")
            print(f"resident after {CYCLES} cycles   {late / 1024:7.1f} MB  (goal < 40 MB, "
                  f"growth {(late - early) / 1024:+.1f} MB)")

            with running_daemon(client_config(directory, port, "3600"),
                                directory / "idle.sock") as (daemon, notify):
                wait_statuses(notify, 1)
                cpu, switches = cpu_seconds(daemon.pid), proc_status(
                    daemon.pid, "voluntary_ctxt_switches")
                time.sleep(IDLE_SECONDS)  # measuring an idle process: nothing to wait for
                cpu = cpu_seconds(daemon.pid) - cpu
                switches = proc_status(daemon.pid, "voluntary_ctxt_switches") - switches
            print(f"\n== daemon idle between checks for {IDLE_SECONDS:g} s, no watchdog")
            print(f"CPU time {cpu * 1000:.0f} ms, wake-ups {switches}  (goal: 0 wake-ups)")
        finally:
            stop(server)
            server_notify.close()
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())
