"""dyndns2 updates published to a real BIND by RFC 2136, as ratios.

chipmunk-server (2 workers, 4 threads, as the issue measured) publishes to
named on loopback (the tests' own BIND set-up).  Measured in one run, 8
connections, keep-alive:

- ``GET /get/ip`` of the same server: the peer every rate is a ratio to,
  measured three times alternately with ``nochg`` (the median of each);
- ``/nic/update`` with nothing to change (``nochg``), answered from the
  known state (goal >= 0.8 of ``/get/ip``), with the DNS reads it cost
  counted in named's query log (goal: at most one per record per
  ``recheck``); and the same with ``recheck = 0``, a read every request, as
  every nochg cost before;
- ``/nic/update`` with a new address every request (``good``): a read and
  an UPDATE, and named writing its journal;
- the status page: DNS queries per view (goal 0);
- BIND paused (SIGSTOP): 16 publishing requests at once, and another user's
  ``/get/ip`` meanwhile: its p99 (goal <= 50 ms), and how long the updates
  took to get their 911 (goal: within ``[Publish] timeout``).
"""
from __future__ import annotations

import concurrent.futures
import http.client
import importlib
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dns.message
import dns.query
import dns.tsig

from .harness import AUTHORIZATION, PASSWORD, USER, free_port, wrk
from .server_bench import start_chipmunk, stop

# The tests' real-BIND set-up (tests/bind.py and the helpers it uses).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
bind = importlib.import_module("bind")
KEY_NAME, ZONE, Named = bind.KEY_NAME, bind.ZONE, bind.Named

HOSTS = 50
CONNECTIONS = 8
SECONDS = 4
#: /get/ip and nochg measured alternately this often; the median of each counts
ROUNDS = 3
DNS_QUERIES = 500
#: [Publish] timeout: the deadline of one request
TIMEOUT = 3

#: each request a new address for one of the HOSTS names, so every one is "good"
CHANGING = """
counter = 0
request = function()
  counter = counter + 1
  local host = "h" .. (counter %% %(hosts)d) .. ".%(zone)s"
  local ip = "10." .. (math.random(0, 255)) .. "." .. (math.floor(counter / 256) %% 256)
             .. "." .. (counter %% 256)  -- private: the bench allows publish_non_global
  return wrk.format("GET", "/nic/update?hostname=" .. host .. "&myip=" .. ip)
end
"""


#: counts answers that are 911 (a 200 to wrk), printed by done(); used for every
#: row, so that its cost is the same for each
COUNTING = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) failed = 0 end
function response(status, headers, body)
  if string.sub(body, 1, 3) == "911" then failed = failed + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("failed") end
  io.write(string.format("answered 911: %d\\n", total))
end
"""


def failed(result) -> int:
    match = re.search(r"answered 911: (\d+)", result.output)
    return int(match.group(1)) if match else 0


def dns_query_ms(named) -> float:
    """Median time of one TCP query with TSIG, as the server's read makes it."""
    key = dns.tsig.Key(KEY_NAME, named.secret, "hmac-sha256")
    times = []
    for _ in range(DNS_QUERIES):
        query = dns.message.make_query(f"h0.{ZONE}", "A")
        query.use_tsig(key)
        started = time.perf_counter()
        dns.query.tcp(query, "127.0.0.1", port=named.port, timeout=5)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def start(directory: Path, named, recheck: str
          ) -> tuple[int, subprocess.Popen, socket.socket]:
    names = ", ".join(f"h{i}.{ZONE}" for i in range(HOSTS))
    port = free_port()
    server, notify = start_chipmunk(directory, port, PASSWORD, 2, 4, extra=(
        f"publish_non_global = yes\n[Hostnames]\n{USER} = {names}\n[Publish]\n"
        f"provider = rfc2136\ntimeout = {TIMEOUT}\nbackoff = 0\nrecheck = {recheck}\n"
        f"[rfc2136]\nserver = 127.0.0.1\nport = {named.port}\nzone = {ZONE}\n"
        f"key_name = {KEY_NAME}\nkey_secret = {named.secret}\nttl = 60\n"))
    return port, server, notify


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="chipmunk-dyndns-bench-") as temp:
        directory = Path(temp)
        (directory / "named").mkdir()
        named = Named(directory / "named").start()
        script = directory / "changing.lua"
        script.write_text(CHANGING % {"hosts": HOSTS, "zone": ZONE} + COUNTING)
        counting = directory / "counting.lua"
        counting.write_text(COUNTING)
        try:
            results, reads, views, paused = run(directory, named, script, counting)
            query_ms = dns_query_ms(named)
        finally:
            named.process.send_signal(signal.SIGCONT)
            named.stop()
    print(f"\n== dyndns2 publishing to BIND (rfc2136), {CONNECTIONS} connections, "
          "2 workers x 4 threads")
    for name, result in results.items():
        print(result.row(name))
    peer = results["GET /get/ip"]
    for name, result in list(results.items())[1:]:
        print(f"{name}: {result.requests_per_second / peer.requests_per_second:.2f} of "
              f"/get/ip's rate (goal for nochg: >= 0.8); {failed(result)} answered 911")
    for name, (count, requests) in reads.items():
        print(f"{name}: {count} DNS reads for {requests} requests "
              f"({1000 * count / max(requests, 1):.1f} per 1,000; goal: <= 1 per record "
              "per recheck)")
    print(f"one DNS query alone (TCP + TSIG, median of {DNS_QUERIES}): {query_ms:.2f} ms")
    print(f"status page: {views[0]} DNS queries for {views[1]} views (goal 0)")
    p99, slowest, answers = paused
    print(f"BIND paused: another user's /get/ip p99 {p99:.1f} ms (goal <= 50); 16 updates "
          f"answered {sorted(set(answers))} within {slowest:.1f} s ([Publish] timeout = "
          f"{TIMEOUT})")
    return 0


def run(directory: Path, named, script: Path, counting: Path):
    results, reads = {}, {}
    for recheck in ("5m", "0"):
        port, server, notify = start(directory, named, recheck)
        base = f"http://127.0.0.1:{port}"
        nochg = f"{base}/nic/update?hostname=h0.{ZONE}&myip=192.0.2.1"
        try:
            wrk(nochg, AUTHORIZATION, CONNECTIONS, 2)  # warm-up; publishes h0 once
            name = f"/nic/update nochg, recheck = {recheck}"
            before = named.queries(f"h0.{ZONE}")
            peer, measured = [], []
            # alternating, as often as the peer: drift on a busy machine
            # (wrk and the server share its CPUs) hits both alike
            for _ in range(ROUNDS if recheck != "0" else 1):
                if recheck != "0":
                    peer.append(wrk(f"{base}/get/ip", AUTHORIZATION, CONNECTIONS, SECONDS,
                                    script=counting))
                measured.append(wrk(nochg, AUTHORIZATION, CONNECTIONS, SECONDS,
                                    script=counting))
            if peer:
                results["GET /get/ip"] = median_run(peer)
            results[name] = median_run(measured)
            reads[name] = (named.queries(f"h0.{ZONE}") - before,
                           int(sum(run.requests_per_second for run in measured) * SECONDS))
            if recheck == "0":
                continue
            results["/nic/update good (new address)"] = wrk(
                f"{base}/nic/update", AUTHORIZATION, CONNECTIONS, SECONDS, script=script)
            before = sum(named.queries(f"h{i}.{ZONE}") for i in range(HOSTS))
            count = status_views(port)
            views = (sum(named.queries(f"h{i}.{ZONE}") for i in range(HOSTS)) - before, count)
            paused = bind_paused(port, named)
        finally:
            named.process.send_signal(signal.SIGCONT)
            stop(server)
            notify.close()
    return results, reads, views, paused


def median_run(runs: list):
    """The run with the median rate."""
    return sorted(runs, key=lambda run: run.requests_per_second)[len(runs) // 2]


def status_views(port: int, count: int = 200) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(count):
        connection.request("GET", "/", headers={"Authorization": AUTHORIZATION})
        connection.getresponse().read()
    connection.close()
    return count


def bind_paused(port: int, named) -> tuple[float, float, list[str]]:
    """16 updates waiting on a stopped BIND, and /get/ip beside them."""
    named.process.send_signal(signal.SIGSTOP)
    started = time.monotonic()

    def publish(n: int) -> tuple[str, float]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", f"/nic/update?hostname=h{n}.{ZONE}&myip=192.0.2.{100 + n}",
                           headers={"Authorization": AUTHORIZATION})
        answer = connection.getresponse().read().decode().strip()
        connection.close()
        return answer, time.monotonic() - started

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        updates = [pool.submit(publish, n) for n in range(16)]
        time.sleep(0.2)
        latencies = []
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.monotonic() - started < TIMEOUT:
            begin = time.perf_counter()
            connection.request("GET", "/get/ip", headers={"Authorization": AUTHORIZATION})
            connection.getresponse().read()
            latencies.append(time.perf_counter() - begin)
            time.sleep(0.01)
        connection.close()
        done = [future.result(timeout=60) for future in updates]
    named.process.send_signal(signal.SIGCONT)
    return (statistics.quantiles(latencies, n=100)[98] * 1000, max(t for _, t in done),
            [answer for answer, _ in done])


if __name__ == "__main__":
    sys.exit(main())
