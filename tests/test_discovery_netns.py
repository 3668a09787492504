"""The client without (and with) a chipmunk server, in a small internet of
network namespaces (tests/internet.py): real nginx echo services, a real
PowerDNS answering whoami names, Debian's miniupnpd on a router that NATs
with nftables, and chipmunk-server -- each source kind alone, dual stack,
liars, dead and slow sources, carrier-grade NAT, and the original
chipmunk-only configuration.

Records are published through the hostsfile provider, so what reached "DNS"
is read back from a file.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import WAIT, NotifySocket, child_env, stop_process, wait_until
from internet import (
    CARRIER_PUBLIC4,
    DOWN_PORT,
    HOME4,
    HOME6,
    INTERNET4,
    INTERNET6,
    LIARS,
    SHARED_WAN4,
    SLOW_PORT,
    WAN4,
    World,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")

DNS4 = f"dns:myip.test@{INTERNET4}"
DNS6 = f"dns:myip.test@[{INTERNET6}]"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    built = World(tmp_path_factory.mktemp("internet"))
    try:
        built.start_echo()
        built.start_whoami()
        built.endpoint = built.start_server()
        built.start_miniupnpd()
        yield built
    finally:
        built.close()


@pytest.fixture(scope="module")
def cgnat_world(tmp_path_factory):
    built = World(tmp_path_factory.mktemp("cgnat"), carrier=True)
    try:
        built.start_echo()
        built.start_whoami()
        built.start_natpmp_responder(SHARED_WAN4)
        yield built
    finally:
        built.close()


def config(tmp_path: Path, discovery: str, server: str = "", update: bool = True,
           ipv6: bool = True) -> Path:
    """A client config: [Discovery] as given, the hostsfile provider;
    ``ipv6=False``: no IPv6 at all (ipv6_source = none)."""
    path = tmp_path / "client.ini"
    path.write_text(
        f"[Global]\nstate_dir = {tmp_path}/state\nupdate_dns = {'yes' if update else 'no'}\n"
        + ("" if ipv6 else "ipv6_source = none\n") +
        f"metrics_file = {tmp_path}/client.prom\n"
        f"{server}"
        f"[Discovery]\n{discovery}\n"
        f"[dDNS]\nprovider = hostsfile\n"
        f"[hostsfile]\npath = {tmp_path}/hosts\nhost = home.example.org\n"
        "record_types = A, AAAA\n")
    path.chmod(0o600)
    return path


def published(tmp_path: Path) -> set[str]:
    hosts = tmp_path / "hosts"
    if not hosts.exists():
        return set()
    return {line.split()[0] for line in hosts.read_text().splitlines()
            if line.strip() and not line.startswith("#")}


def result_lines(output: str) -> list[str]:
    return re.findall(r"(?m)^  result: (.*)$", output)


@pytest.mark.parametrize("source, expected", [
    ("http://echo.test/ip", WAN4),
    ("http://echo.test/json", WAN4),
    ("http://echo.test/trace", WAN4),
    (DNS4, WAN4),
    (f"dns:txt.myip.test@{INTERNET4}/TXT", WAN4),
    ("upnp", WAN4),
    ("natpmp", WAN4),
    ("chipmunk", WAN4),
    ("command:{script}", WAN4),
])
def test_every_source_kind_alone_finds_the_routers_address(world, tmp_path, source, expected):
    """echo.test has an AAAA too and home has IPv6: an IPv4 source is still
    asked over IPv4 and answers the NAT's IPv4 address."""
    script = tmp_path / "ip.sh"
    script.write_text(f"#!/bin/sh\necho {WAN4}\n")
    script.chmod(0o755)
    server = (f"[ChipmunkAPIServer]\nusername = alice\npassword = wonderland\n"
              f"endpoint = {world.endpoint}\n") if source == "chipmunk" else ""
    path = config(tmp_path, f"ipv4 = {source.format(script=script)}\nipv6 = "
                  "interface:lan0\n", server)
    result = world.client(path, "discover")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result_lines(result.stdout) == [expected, HOME6], result.stdout
    done = world.client(path, "once")
    assert done.returncode == 0, done.stderr
    assert published(tmp_path) == {expected, HOME6}


def test_interface_ipv4_is_private_behind_nat_and_refused_unless_accepted(world, tmp_path):
    path = config(tmp_path, "ipv4 = interface:lan0\n", update=False, ipv6=False)
    refused = world.client(path, "discover")
    assert refused.returncode == 75
    assert f"{HOME4} is a private address" in refused.stdout
    path.write_text(path.read_text().replace("[Discovery]\n",
                                             "[Discovery]\naccept_non_global = yes\n"))
    accepted = world.client(path, "discover")
    assert accepted.returncode == 0 and result_lines(accepted.stdout) == [HOME4]


def test_dual_stack_with_per_family_sources(world, tmp_path):
    path = config(tmp_path, f"ipv4 = http://echo.test/ip, {DNS4}\n"
                  f"ipv6 = http://echo.test/ip, {DNS6}\nagree = 2\n")
    result = world.client(path, "once")
    assert result.returncode == 0, result.stderr
    assert published(tmp_path) == {WAN4, HOME6}
    status = world.client(path, "status").stdout
    assert f"IPv4:         {WAN4}" in status and f"IPv6:         {HOME6}" in status


def test_one_liar_of_three_is_outvoted_and_named(world, tmp_path):
    path = config(tmp_path, f"ipv4 = http://echo.test/liar, http://echo.test/ip, {DNS4}\n"
                  "ipv6 = interface:lan0\n")
    result = world.client(path, "once")
    assert result.returncode == 0, result.stderr
    assert published(tmp_path) == {WAN4, HOME6}
    liar = LIARS["/liar"]
    assert f"source http://echo.test/liar said {liar}, but 2 sources agree on {WAN4}" \
        in result.stderr
    metrics = (tmp_path / "client.prom").read_text()
    assert ('chipmunk_client_source_disagreements_total{family="ipv4",'
            'source="http://echo.test/liar"} 1.0') in metrics
    assert ('chipmunk_client_source_successes_total{family="ipv4",'
            f'source="{DNS4}"}} 1.0') in metrics


def test_two_liars_disagreeing_publish_nothing(world, tmp_path):
    path = config(tmp_path, "ipv4 = http://echo.test/liar, http://echo.test/liar2, "
                  "http://echo.test/ip\n", ipv6=False)
    result = world.client(path, "once")
    assert result.returncode == 75, result.stderr
    assert published(tmp_path) == set()
    warning = next(line for line in result.stderr.splitlines() if "disagree" in line)
    for path_, address in LIARS.items():
        assert f"http://echo.test{path_} said {address}" in warning
    assert f"http://echo.test/ip said {WAN4}" in warning
    assert "nothing published" in warning


def test_dead_slow_and_html_sources_leave_the_decision_to_the_others(world, tmp_path):
    path = config(tmp_path, f"ipv4 = http://{INTERNET4}:{SLOW_PORT}/ip, "
                  f"http://{INTERNET4}:{DOWN_PORT}/ip, http://echo.test/html, "
                  f"http://echo.test/forbidden, http://echo.test/ip, {DNS4}\n"
                  "agree = 2\ntimeout = 3\n", update=False, ipv6=False)
    began = time.monotonic()
    result = world.client(path, "discover")
    assert result.returncode == 0, result.stdout
    assert result_lines(result.stdout) == [WAN4]
    assert time.monotonic() - began < 3 + 2, "bounded by the deadline"
    # each of them alone: never believed, and the deadline bounds the slow one
    for bad, words in ((f"http://{INTERNET4}:{SLOW_PORT}/ip", "no answer in time"),
                       (f"http://{INTERNET4}:{DOWN_PORT}/ip", "Connection refused"),
                       ("http://echo.test/html", "the answer is no address: '<html>"),
                       ("http://echo.test/forbidden", "403")):
        path.write_text(re.sub(r"(?m)^ipv4 = .*$", f"ipv4 = {bad}", path.read_text())
                        .replace("agree = 2\n", ""))
        began = time.monotonic()
        alone = world.client(path, "discover")
        assert alone.returncode == 75 and words in alone.stdout, alone.stdout
        assert time.monotonic() - began < 3 + 2


def test_an_ipv6_answer_to_an_ipv4_question_is_refused(world, tmp_path):
    """A command (unlike HTTP, it cannot be asked over a family) that prints
    an IPv6 address in ipv4 is refused, never published as A."""
    script = tmp_path / "ip.sh"
    script.write_text(f"#!/bin/sh\necho {HOME6}\n")
    script.chmod(0o755)
    path = config(tmp_path, f"ipv4 = command:{script}\n", ipv6=False)
    result = world.client(path, "once")
    assert result.returncode == 75
    assert f"answered {HOME6}, an IPv6 address; IPv4 was asked" in result.stderr
    assert published(tmp_path) == set()


def test_carrier_grade_nat_is_diagnosed_and_the_public_address_published(cgnat_world,
                                                                         tmp_path):
    path = config(tmp_path, f"ipv4 = natpmp, http://echo.test/ip, {DNS4}\n", ipv6=False)
    shown = cgnat_world.client(path, "discover")
    assert shown.returncode == 0, shown.stdout
    assert result_lines(shown.stdout) == [CARRIER_PUBLIC4]
    assert "carrier-grade NAT" in shown.stdout and SHARED_WAN4 in shown.stdout
    assert "port forwarding on your router will not reach you" in shown.stdout
    done = cgnat_world.client(path, "once")
    assert done.returncode == 0, done.stderr
    assert published(tmp_path) == {CARRIER_PUBLIC4}
    assert "carrier-grade NAT" in done.stderr, "the journal says it"
    for command in ("status", "check"):
        assert "carrier-grade NAT" in cgnat_world.client(path, command).stdout, command
    assert 'chipmunk_client_carrier_grade_nat{family="ipv4"} 1.0' in \
        (tmp_path / "client.prom").read_text()


def test_the_original_chipmunk_only_configuration_is_unchanged(world, tmp_path):
    path = tmp_path / "client.ini"
    path.write_text(f"[Global]\nupdate_dns = yes\nstate_dir = {tmp_path}/state\n"
                    f"[ChipmunkAPIServer]\nusername = alice\npassword = wonderland\n"
                    f"method = set\nendpoint = {world.endpoint}\n"
                    f"[dDNS]\nprovider = hostsfile\n"
                    f"[hostsfile]\npath = {tmp_path}/hosts\nhost = home.example.org\n")
    path.chmod(0o600)
    before = world.echo_requests()
    result = world.client(path, "once")
    assert result.returncode == 0, result.stderr
    assert published(tmp_path) == {WAN4}
    assert (world.directory / "server-state" / "alice.cm").read_text().strip() == WAN4
    assert world.echo_requests() == before, "no public service asked"
    shown = world.client(path, "discover")
    assert f"IPv4 (as configured, without agreement): {WAN4}" in shown.stdout


def test_the_daemon_reacts_to_a_network_event_through_the_same_discovery(world, tmp_path):
    """The WAN address changes upstream; a new default route at home (a
    network event) makes the daemon ask the sources again at once."""
    path = config(tmp_path, f"ipv4 = upnp, http://echo.test/ip, {DNS4}\n", ipv6=False)
    path.write_text(path.read_text() + "[Daemon]\ninterval = 3600\ndebounce = 0.2\n")
    notify = NotifySocket(tmp_path / "client.sock")
    with open(tmp_path / "daemon.log", "ab") as log:
        daemon = subprocess.Popen(
            ["ip", "netns", "exec", world.home, sys.executable, "-m", "chipmunk.client.cli",
             "--config", str(path), "run"], env=child_env(NOTIFY_SOCKET=str(notify.path)),
            stdout=log, stderr=log)
    new_wan = "11.0.0.3"
    try:
        notify.wait_for("READY", "1")
        wait_until(lambda: published(tmp_path) == {WAN4}, "the first check")
        world.move_wan(f"{WAN4}/30", f"{new_wan}/8")
        world.ip(world.home, "route", "add", "default", "via", "192.168.1.1", "metric", "50")
        wait_until(lambda: published(tmp_path) == {new_wan}, "the daemon to publish the new "
                   "address after the event", timeout=WAIT)
    finally:
        stop_process(daemon)
        notify.close()
        world.ip(world.home, "route", "flush", "default", "metric", "50")
        world.move_wan(f"{new_wan}/8", f"{WAN4}/30")
    log = (tmp_path / "daemon.log").read_text()
    assert f"public address is now {new_wan} (was {WAN4})" in log, log



def test_the_cheapest_sources_are_asked_first_and_asking_stops_at_agreement(world,
                                                                            tmp_path):
    """The router (NAT-PMP) and DNS agree: the echo service (HTTP) is not asked."""
    path = config(tmp_path, f"ipv4 = http://echo.test/ip, {DNS4}, natpmp\n", update=False,
                  ipv6=False)
    before = world.echo_requests()
    result = world.client(path, "discover")
    assert result.returncode == 0 and result_lines(result.stdout) == [WAN4], result.stdout
    assert "http://echo.test/ip" in result.stdout and "not asked: enough sources agreed" \
        in result.stdout
    assert world.echo_requests() == before
