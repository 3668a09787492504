"""Wrong passwords from 200 addresses, and the people who still need to log in.

The attack (tests/flood.py): 48 threads send wrong passwords for a hashed
user, one request per new connection, from 200 loopback addresses in turn,
for ATTACK_SECONDS.  Beside it, measured in the same run:

- fresh logins: FRESH users, never logged in, one every FRESH_EVERY seconds
  from one address that is not flooding -- the share answered 200 within
  2 s (goal >= 90 %), over the whole flood, its first burst included;
- a cached user's p99 (one request every 20 ms on one keep-alive connection);
- lockouts: how many of the 200 flooding networks got 429, and when the last
  one did;
- the server's CPU (1.0 = one core; the hashing budget's share of it).

Bounded: ATTACK_SECONDS of attack, then every thread joins.
Usage: python3 -m benchmarks.flood_bench [PYTHONPATH-of-another-tree MODULE]
to run the same attack against another checkout (for a before/after).
"""
from __future__ import annotations

import http.client
import importlib
import os
import statistics
import sys
import threading
import time
from pathlib import Path

from .harness import PASSWORD, server_from_checkout

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
flood = importlib.import_module("flood")

ATTACK_SECONDS, ATTACK_THREADS, SOURCES = 15.0, 48, 200
FRESH, FRESH_EVERY = 20, 0.7


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its children, from /proc."""
    total = 0.0
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for one in pids:
        fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def users(hashed: str) -> str:
    fresh = "".join(f"fresh{n} = {hashed}\n" for n in range(FRESH))
    return f"victim = {hashed}\nbob = {hashed}\n{fresh}"


def main() -> int:
    with server_from_checkout(users, "flood") as (tree, port, pid):
        figures = run(port, pid)
    print(f"\n== flood: {ATTACK_THREADS} connections of wrong passwords from {SOURCES} "
          f"addresses, {ATTACK_SECONDS:g}s (goals: fresh logins >= 90 % within 2 s, "
          "every flooding network locked out within seconds, cached user p99 <= 20 ms)")
    print(f"{tree}:\n" + "\n".join(f"  {line}" for line in figures))
    return 0


def run(port: int, pid: int) -> list[str]:
    victim = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    victim.request("GET", "/ip", headers={"Authorization": flood.basic("victim", PASSWORD)})
    victim.getresponse().read()  # now cached
    latencies: list[float] = []
    fresh: list[tuple[float, int, float]] = []
    sources = flood.flooding_sources(SOURCES)
    started_cpu = cpu_seconds(pid)
    with flood.Flood("127.0.0.1", port, sources, "bob", ATTACK_THREADS,
                     ATTACK_SECONDS) as attack:
        logins = threading.Thread(target=fresh_logins, args=(port, attack.started, fresh))
        logins.start()
        while time.monotonic() - attack.started < ATTACK_SECONDS:
            begin = time.perf_counter()
            victim.request("GET", "/ip",
                           headers={"Authorization": flood.basic("victim", PASSWORD)})
            victim.getresponse().read()
            latencies.append(time.perf_counter() - begin)
            time.sleep(0.02)
        cores = (cpu_seconds(pid) - started_cpu) / (time.monotonic() - attack.started)
        logins.join(30)
    result = attack.result
    quick = [at for at, status, seconds in fresh if status == 200 and seconds <= 2.0]
    burst = [at for at, status, seconds in fresh if at < 2.0]
    locked = sorted(result.locked_after.values())
    return [
        f"fresh logins answered 200 within 2 s: {len(quick)}/{len(fresh)} "
        f"({100 * len(quick) / max(len(fresh), 1):.0f} %; {len(burst)} of them in the "
        f"flood's first 2 s, {sum(1 for at in quick if at < 2.0)} of those passed)",
        f"flooding networks locked out: {len(locked)}/{SOURCES}"
        + (f", the last {locked[-1]:.1f} s into the flood" if locked else ""),
        f"attack: {result.sent} requests ({result.sent / ATTACK_SECONDS:.0f}/s), "
        + ", ".join(f"{count} x {status or 'no answer'}"
                    for status, count in sorted(result.statuses.items())),
        f"cached user p99 {statistics.quantiles(latencies, n=100)[98] * 1000:.1f} ms, "
        f"server CPU {cores:.2f} cores",
    ]


def fresh_logins(port: int, started: float, fresh: list[tuple[float, int, float]]) -> None:
    """FRESH first logins, FRESH_EVERY apart, from 127.0.3.1: (when, status, seconds)."""
    for n in range(FRESH):
        at = time.monotonic() - started
        status, seconds = flood.timed_login("127.0.0.1", port, "127.0.3.1", f"fresh{n}",
                                            PASSWORD)
        fresh.append((at, status, seconds))
        time.sleep(max(FRESH_EVERY - seconds, 0))


if __name__ == "__main__":
    raise SystemExit(main())
