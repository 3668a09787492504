"""dyndns2 updates published to a real BIND by RFC 2136, as ratios.

chipmunk-server (1 worker, 4 threads) publishes to named on loopback (the
tests' own BIND set-up).  Measured in one run, 8 connections, keep-alive:

- ``GET /get/ip`` of the same server: the peer every figure is a ratio to;
- ``/nic/update`` with nothing to change (``nochg``): one DNS read (TCP,
  TSIG) per request -- its extra cost per request at saturation (one
  process: 1/rate) is compared with a DNS query made alone, with the same
  library, from this process;
- ``/nic/update`` with a new address every request (``good``): a read and
  an UPDATE, and named writing its journal.
"""
from __future__ import annotations

import importlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import dns.message
import dns.query
import dns.tsig

from .harness import AUTHORIZATION, PASSWORD, free_port, wrk
from .server_bench import start_chipmunk, stop

# The tests' real-BIND set-up (tests/bind.py and the helpers it uses).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
bind = importlib.import_module("bind")
KEY_NAME, ZONE, Named = bind.KEY_NAME, bind.ZONE, bind.Named

HOSTS = 50
CONNECTIONS = 8
SECONDS = 6
DNS_QUERIES = 500

#: each request a new address for one of the HOSTS names, so every one is "good"
CHANGING = """
counter = 0
request = function()
  counter = counter + 1
  local host = "h" .. (counter %% %(hosts)d) .. ".%(zone)s"
  local ip = "10." .. (math.random(0, 255)) .. "." .. (math.floor(counter / 256) %% 256)
             .. "." .. (counter %% 256)
  return wrk.format("GET", "/nic/update?hostname=" .. host .. "&myip=" .. ip)
end
"""


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


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="chipmunk-dyndns-bench-") as temp:
        directory = Path(temp)
        (directory / "named").mkdir()
        named = Named(directory / "named").start()
        names = ", ".join(f"h{i}.{ZONE}" for i in range(HOSTS))
        port = free_port()
        server, notify = start_chipmunk(directory, port, PASSWORD, 1, 4, extra=(
            f"[Hostnames]\nbench = {names}\n[Publish]\nprovider = rfc2136\n"
            f"[rfc2136]\nserver = 127.0.0.1\nport = {named.port}\nzone = {ZONE}\n"
            f"key_name = {KEY_NAME}\nkey_secret = {named.secret}\nttl = 60\n"))
        script = directory / "changing.lua"
        script.write_text(CHANGING % {"hosts": HOSTS, "zone": ZONE})
        base = f"http://127.0.0.1:{port}"
        nochg = f"{base}/nic/update?hostname=h0.{ZONE}&myip=192.0.2.1"
        try:
            wrk(nochg, AUTHORIZATION, CONNECTIONS, 2)  # warm-up; publishes h0 once
            results = {
                "GET /get/ip": wrk(f"{base}/get/ip", AUTHORIZATION, CONNECTIONS, SECONDS),
                "/nic/update nochg": wrk(nochg, AUTHORIZATION, CONNECTIONS, SECONDS),
                "/nic/update good (new address)": wrk(
                    f"{base}/nic/update", AUTHORIZATION, CONNECTIONS, SECONDS,
                    script=script),
            }
            query_ms = dns_query_ms(named)
        finally:
            stop(server)
            notify.close()
            named.stop()
    print(f"\n== dyndns2 publishing to BIND (rfc2136), {CONNECTIONS} connections, "
          "1 worker x 4 threads")
    for name, result in results.items():
        print(result.row(name))
    peer = results["GET /get/ip"]
    print(f"one DNS query alone (TCP + TSIG, median of {DNS_QUERIES}): {query_ms:.2f} ms")
    for name, result in list(results.items())[1:]:
        print(f"{name}: {result.requests_per_second / peer.requests_per_second:.2f} of "
              f"/get/ip's rate, p99 {result.p99_ms / peer.p99_ms:.1f}x")
    # One worker process: at saturation 1/rate is what a request costs it.
    extra = 1000 / results["/nic/update nochg"].requests_per_second - \
        1000 / peer.requests_per_second
    print(f"a nochg costs the server {extra:.2f} ms more than a /get/ip at saturation: "
          f"{extra / query_ms:.1f} DNS queries' worth (goal: close to 1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
