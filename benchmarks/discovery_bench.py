"""Address discovery without a chipmunk server, as ratios, in the tests'
small internet of namespaces (tests/internet.py: nginx echo services,
PowerDNS whoami, Debian's miniupnpd on a NAT router, chipmunk-server).

- A check with three HTTP echo sources and the router (UPnP; and NAT-PMP,
  which is asked first), two of which must agree, against a check with one
  chipmunk source, the peer: the
  median of ROUNDS checks in one process each, alternating (the daemon's
  case: the router found once), and the first check of a new process (the
  timer's case).  Goal: <= 1.5x.
- Reaction time of the event-driven daemon with three sources (UPnP, HTTP,
  DNS): the router's WAN address changes, a network event at home (a new
  default route), and the time until the new address is in the hosts file.
  Goal: p50 <= 2 s.
"""
from __future__ import annotations

import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
internet = importlib.import_module("internet")
helpers = importlib.import_module("helpers")

ROUNDS = 60
CHANGES = 10
HTTP_SOURCES = "http://echo.test/ip, http://echo.test/json, http://echo.test/trace"


def config(directory: Path, name: str, discovery: str, endpoint: str) -> Path:
    path = directory / f"{name}.ini"
    path.write_text(
        f"[Global]\nstate_dir = {directory}/{name}-state\nipv6_source = none\n"
        f"[ChipmunkAPIServer]\nusername = alice\npassword = wonderland\n"
        f"endpoint = {endpoint}\n[Discovery]\n{discovery}\n"
        f"[Daemon]\ninterval = 3600\ndebounce = 0.2\n"
        f"[dDNS]\nprovider = hostsfile\n"
        f"[hostsfile]\npath = {directory}/{name}.hosts\nhost = home.example.org\n")
    path.chmod(0o600)
    return path


def inside(paths: list[str]) -> int:
    """In the home namespace: time each config's checks, in one process."""
    from chipmunk.client.chipmunkserver import server_client
    from chipmunk.client.discovery import Discovery
    from chipmunk.client.settings import load_settings
    runs = []
    for path in paths:
        settings = load_settings(path)
        web = server_client(settings)
        runs.append((Discovery(settings, web), web))
    first: list[float] = []
    times: list[list[float]] = [[] for _ in paths]
    for index, (discovery, _) in enumerate(runs):
        began = time.perf_counter()
        found = discovery.run(journal=False)
        first.append(time.perf_counter() - began)
        assert found.addresses.get("A"), (paths[index], found.errors)
    for _ in range(ROUNDS):
        for index, (discovery, _) in enumerate(runs):
            began = time.perf_counter()
            found = discovery.run(journal=False)
            times[index].append(time.perf_counter() - began)
            assert found.addresses.get("A"), (paths[index], found.errors)
    print(json.dumps({"first": first, "median": [statistics.median(t) for t in times],
                      "p90": [sorted(t)[int(len(t) * 0.9)] for t in times]}))
    return 0


def published(hosts: Path) -> str:
    text = hosts.read_text() if hosts.exists() else ""
    return text.split()[0] if text.strip() else ""


def reaction_times(world, path: Path, hosts: Path) -> list[float]:
    notify = helpers.NotifySocket(path.parent / "daemon.sock")
    daemon = subprocess.Popen(
        ["ip", "netns", "exec", world.home, sys.executable, "-m", "chipmunk.client.cli",
         "--config", str(path), "run"], env=helpers.child_env(NOTIFY_SOCKET=str(notify.path)),
        stdout=subprocess.DEVNULL, stderr=open(path.parent / "daemon.log", "ab"))
    times = []
    wans = [(f"{internet.WAN4}/30", internet.WAN4), ("11.0.0.3/8", "11.0.0.3")]
    try:
        notify.wait_for("READY", "1")
        helpers.wait_until(lambda: published(hosts) == internet.WAN4, "the first check")
        for change in range(CHANGES):
            old, new = wans[change % 2], wans[(change + 1) % 2]
            world.move_wan(old[0], new[0])
            began = time.monotonic()
            verb = "add" if change % 2 == 0 else "del"
            world.ip(world.home, "route", verb, "default", "via", "192.168.1.1", "metric", "50")
            helpers.wait_until(lambda wanted=new[1]: published(hosts) == wanted, "the new address",
                               timeout=30)
            times.append(time.monotonic() - began)
    finally:
        helpers.stop_process(daemon)
        notify.close()
    return times


def main() -> int:
    if sys.argv[1:2] == ["--inside"]:
        return inside(sys.argv[2:])
    if os.geteuid() != 0:
        raise SystemExit("needs root (network namespaces)")
    with tempfile.TemporaryDirectory(prefix="chipmunk-discovery-bench-") as temp:
        directory = Path(temp)
        (directory / "world").mkdir()
        world = internet.World(directory / "world")
        try:
            world.start_echo()
            world.start_whoami()
            endpoint = world.start_server()
            world.start_miniupnpd()
            many = config(directory, "many", f"ipv4 = upnp, {HTTP_SOURCES}", endpoint)
            one = config(directory, "one", "ipv4 = chipmunk", endpoint)
            natpmp = config(directory, "natpmp", f"ipv4 = natpmp, {HTTP_SOURCES}", endpoint)
            measured = subprocess.run(
                ["ip", "netns", "exec", world.home, sys.executable, "-m",
                 "benchmarks.discovery_bench", "--inside", str(many), str(one), str(natpmp)],
                capture_output=True, text=True, timeout=600, env=helpers.child_env())
            if measured.returncode != 0:
                raise SystemExit(measured.stderr)
            figures = json.loads(measured.stdout)
            three = config(directory, "three",
                           f"ipv4 = upnp, http://echo.test/ip, dns:myip.test@{internet.INTERNET4}",
                           endpoint)
            reactions = reaction_times(world, three, directory / "three.hosts")
        finally:
            world.close()
    (many_first, one_first, natpmp_first) = figures["first"]
    (many_median, one_median, natpmp_median) = figures["median"]
    many_p90, one_p90, natpmp_p90 = figures["p90"]
    print(f"\n== discovery: UPnP + 3 HTTP echo sources (2 must agree) vs one chipmunk source, "
          f"{ROUNDS} checks each in one process")
    print(f"one chipmunk source (peer):   median {one_median * 1000:.2f} ms  "
          f"p90 {one_p90 * 1000:.2f} ms  first {one_first * 1000:.1f} ms")
    print(f"UPnP + 3 HTTP, agree = 2:     median {many_median * 1000:.2f} ms  "
          f"p90 {many_p90 * 1000:.2f} ms  first {many_first * 1000:.1f} ms")
    print(f"ratio of the medians: {many_median / one_median:.2f} (goal <= 1.5); "
          f"of the first checks (a timer's new process): {many_first / one_first:.2f}")
    print(f"NAT-PMP + 3 HTTP, agree = 2:  median {natpmp_median * 1000:.2f} ms  "
          f"p90 {natpmp_p90 * 1000:.2f} ms  first {natpmp_first * 1000:.1f} ms  "
          f"(the router asked first: ratio {natpmp_median / one_median:.2f})")
    print(f"\n== daemon reaction, UPnP + HTTP + DNS: WAN change, event at home -> hosts file, "
          f"{CHANGES} changes")
    print(f"p50 {statistics.median(reactions):.2f} s  max {max(reactions):.2f} s "
          "(goal: p50 <= 2 s; debounce 0.2 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
