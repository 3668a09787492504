"""What the metrics cost the hot path: ``GET /get/ip`` with metrics on beside off.

The same server (1 worker, 2 threads, a hashed password: a cached login)
with and without ``metrics_listen``, interleaved over several rounds so that
drift of the machine hits both alike; the goal is a ratio within 5 %.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

from chipmunk.server.passwords import hash_password

from .harness import AUTHORIZATION, PASSWORD, free_port, wrk
from .server_bench import start_chipmunk, stop

ROUNDS = 5
SECONDS = 5


def measure(directory: Path, extra: str) -> float:
    port = free_port()
    server, notify = start_chipmunk(directory, port, hash_password(PASSWORD), 1, 2, extra)
    try:
        url = f"http://127.0.0.1:{port}/get/ip"
        wrk(url, AUTHORIZATION, seconds=2)  # warm-up: the first login hashes
        return wrk(url, AUTHORIZATION, seconds=SECONDS).requests_per_second
    finally:
        stop(server)
        notify.close()


def main() -> int:
    off: list[float] = []
    on: list[float] = []
    with tempfile.TemporaryDirectory(prefix="chipmunk-metrics-bench-") as temp:
        directory = Path(temp)
        for round_number in range(ROUNDS):  # alternate which goes first
            runs = [(off, ""), (on, f"metrics_listen = 127.0.0.1:{free_port()}\n")]
            for results, extra in runs[::-1] if round_number % 2 else runs:
                results.append(measure(directory, extra))
    print(f"\n== GET /get/ip keep-alive, 50 connections, 1 worker x 2 threads, "
          f"{ROUNDS} interleaved rounds of {SECONDS} s")
    print("metrics off  " + "  ".join(f"{rate:8.0f}" for rate in off) + " req/s")
    print("metrics on   " + "  ".join(f"{rate:8.0f}" for rate in on) + " req/s")
    ratio = statistics.median(on) / statistics.median(off)
    print(f"on / off (medians): {ratio:.3f}  (goal: 0.95 or more)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
