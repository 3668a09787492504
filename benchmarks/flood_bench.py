"""A logged-in user while wrong passwords flood in from 20 addresses.

The attack: 8 threads send wrong passwords for a hashed user, each request
from one of 20 loopback addresses in turn (127.0.0.10-29), so the lockout
(10 failures a minute per address) does not stop them for a while.  The
victim: one user whose login is cached, one request at a time.  We report
the victim's p99 and the CPU the server processes used per second (1.0 = one
core).  Bounded: 15 s of attack, 300 victim requests.

Usage: python3 -m benchmarks.flood_bench [PYTHONPATH-of-another-tree MODULE]
to run the same attack against another checkout (for a before/after).
"""
from __future__ import annotations

import base64
import http.client
import os
import statistics
import threading
import time
from pathlib import Path

from .harness import PASSWORD, server_from_checkout

ATTACK_SECONDS, ATTACK_THREADS, VICTIM_REQUESTS = 15.0, 8, 300


def auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its children, from /proc."""
    total = 0.0
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for one in pids:
        fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def main() -> int:
    with server_from_checkout(lambda hashed: f"victim = {hashed}\nbob = {hashed}\n",
                              "flood") as (tree, port, pid):
        p99, cores, refused = flood(port, pid)
    print(f"\n== flood: {ATTACK_THREADS} threads of wrong passwords from 20 addresses, "
          f"{ATTACK_SECONDS:g}s (goal: cached user p99 <= 20 ms, hashing <= 1 core)")
    print(f"{tree}: cached user p99 {p99:.1f} ms, server CPU {cores:.2f} cores, "
          f"{refused} attack requests refused (429/503)")
    return 0


def flood(port: int, pid: int) -> tuple[float, float, int]:
    victim = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    victim.request("GET", "/ip", headers=auth("victim", PASSWORD))
    victim.getresponse().read()  # now cached
    stop = threading.Event()
    refused = [0]

    def attacker(number: int) -> None:
        sent = 0
        while not stop.is_set():
            source = f"127.0.0.{10 + (number + sent) % 20}"
            sent += 1
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                                  source_address=(source, 0))
                conn.request("GET", "/ip", headers=auth("bob", f"guess{sent}"))
                status = conn.getresponse().status
                refused[0] += status in (429, 503)
                conn.close()
            except OSError:
                pass

    threads = [threading.Thread(target=attacker, args=(n,)) for n in range(ATTACK_THREADS)]
    started_cpu, started = cpu_seconds(pid), time.monotonic()
    for thread in threads:
        thread.start()
    latencies = []
    time.sleep(1)
    for _ in range(VICTIM_REQUESTS):
        if time.monotonic() - started > ATTACK_SECONDS:
            break
        begin = time.perf_counter()
        victim.request("GET", "/ip", headers=auth("victim", PASSWORD))
        victim.getresponse().read()
        latencies.append(time.perf_counter() - begin)
        time.sleep(0.02)
    cores = (cpu_seconds(pid) - started_cpu) / (time.monotonic() - started)
    stop.set()
    for thread in threads:
        thread.join(30)
    return statistics.quantiles(latencies, n=100)[98] * 1000, cores, refused[0]


if __name__ == "__main__":
    raise SystemExit(main())
