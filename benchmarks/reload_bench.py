"""Throughput and p99 while the server is reloaded every half second.

wrk (50 keep-alive connections, 8 s) on an authenticated ``GET /get/ip`` for
a hashed user, with and without ``kill -HUP`` every 0.5 s, ``workers = 2``.
A reload used to empty the credential cache, so every thread re-hashed at
once.  Runs against another checkout too, for a before/after:
``python3 -m benchmarks.reload_bench [PYTHONPATH-of-another-tree MODULE]``.
"""
from __future__ import annotations

import os
import signal
import threading

from .harness import AUTHORIZATION, USER, WrkResult, server_from_checkout, wrk

RELOAD_EVERY, SECONDS = 0.5, 8


def run(port: int, pid: int, storm: bool) -> tuple[WrkResult, int]:
    stop = threading.Event()
    reloads = [0]

    def reload_storm() -> None:
        while storm and not stop.wait(RELOAD_EVERY):
            os.kill(pid, signal.SIGHUP)
            reloads[0] += 1

    thread = threading.Thread(target=reload_storm)
    thread.start()
    try:
        result = wrk(f"http://127.0.0.1:{port}/get/ip", AUTHORIZATION, seconds=SECONDS)
    finally:
        stop.set()
        thread.join(10)
    return result, reloads[0]


def main() -> int:
    with server_from_checkout(lambda hashed: f"{USER} = {hashed}\n",
                              "reload") as (tree, port, pid):
        wrk(f"http://127.0.0.1:{port}/get/ip", AUTHORIZATION, seconds=2)  # warm-up
        calm, _ = run(port, pid, storm=False)
        stormy, reloads = run(port, pid, storm=True)
    print(f"\n== reload storm: SIGHUP every {RELOAD_EVERY:g}s under wrk, workers = 2 "
          f"(goal: 0 errors, p99 <= 50 ms)")
    print(calm.row(f"{tree}, calm"))
    print(stormy.row(f"{tree}, {reloads} reloads"))
    print(f"throughput under the storm / calm: "
          f"{stormy.requests_per_second / calm.requests_per_second:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
