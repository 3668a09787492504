"""IPv4 and IPv6 in one cycle: endpoint6, a local interface, record_types."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from chipmunk.client.local_ipv6 import stable_ipv6
from helpers import REPO, run_client, write_client_config


def hosts_client(tmp_path, endpoint: str, endpoint6: str, record_types: str = "A, AAAA",
                 hosts_text: str | None = None):
    hosts = tmp_path / "hosts"
    if hosts_text is not None:
        hosts.write_text(hosts_text)
    config = write_client_config(tmp_path / "client.ini", endpoint, tmp_path / "state",
                                 "hostsfile", f"[hostsfile]\npath = {hosts}\n"
                                 f"names = home.lan\nrecord_types = {record_types}\n",
                                 endpoint6=endpoint6)
    return config, hosts


def test_a_and_aaaa_from_one_config(tmp_path, chipmunk_server):
    config, hosts = hosts_client(tmp_path, chipmunk_server.endpoint, chipmunk_server.endpoint6)
    result = run_client(config, "once")
    assert result.returncode == 0, result.stderr
    assert hosts.read_text() == "127.0.0.1 home.lan\n::1 home.lan\n"
    status = run_client(config, "status").stdout
    assert "IPv4:         127.0.0.1" in status and "IPv6:         ::1" in status
    assert "hostsfile home.lan AAAA: updated, ::1" in status


def test_only_the_configured_record_types(tmp_path, chipmunk_server):
    config, hosts = hosts_client(tmp_path, chipmunk_server.endpoint,
                                 chipmunk_server.endpoint6, "AAAA")
    assert run_client(config, "once").returncode == 0
    assert hosts.read_text() == "::1 home.lan\n"


def test_losing_ipv6_keeps_the_aaaa_record(tmp_path, chipmunk_server):
    config, hosts = hosts_client(tmp_path, chipmunk_server.endpoint, "http://[::1]:9",
                                 hosts_text="2001:db8::77 home.lan\n")
    result = run_client(config, "once")
    assert result.returncode == 75
    assert "cannot reach [::1]:9" in result.stderr
    assert hosts.read_text() == "2001:db8::77 home.lan\n127.0.0.1 home.lan\n"


def test_endpoint6_reached_over_ipv4_is_a_config_error(tmp_path, chipmunk_server):
    config, hosts = hosts_client(tmp_path, chipmunk_server.endpoint, chipmunk_server.endpoint)
    result = run_client(config, "once")
    assert result.returncode == 78
    assert "endpoint6 http://127.0.0.1" in result.stderr and "over IPv4" in result.stderr
    assert hosts.read_text() == "127.0.0.1 home.lan\n", "IPv4 still served"


IF_INET6 = """\
20010db8000100000000000000000001 02 40 00 01 eth0
20010db8000100000000000000000002 02 40 00 20 eth0
20010db8000100000000000000000003 02 40 00 40 eth0
20010db800010000021122fffe334455 02 40 00 00 eth0
20010db8000100000000000000000009 02 40 00 80 eth0
fe800000000000000000000000000001 02 40 20 80 eth0
20010db8000200000000000000000001 03 40 00 01 wlan0
"""


def test_interface_address_choice(tmp_path):
    source = tmp_path / "if_inet6"
    source.write_text(IF_INET6)
    assert str(stable_ipv6("eth0", source)) == "2001:db8:1::9", "permanent preferred"
    source.write_text(IF_INET6.replace(" 80 eth0\n", " 21 eth0\n", 1))
    assert str(stable_ipv6("eth0", source)) == "2001:db8:1:0:211:22ff:fe33:4455", \
        "then autoconfigured; never temporary (01), deprecated (20) or tentative (40)"
    with pytest.raises(LookupError, match="no global, non-temporary, non-deprecated"):
        stable_ipv6("wlan0", source)
    with pytest.raises(LookupError, match="interface ppp0 has no IPv6 address"):
        stable_ipv6("ppp0", source)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a network namespace")
def test_interface_address_from_the_kernel_in_a_network_namespace():
    namespace = f"chipmunk-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    try:
        for command in (["link", "add", "cm0", "type", "veth", "peer", "name", "cm1"],
                        ["link", "set", "cm0", "up"],
                        ["addr", "add", "2001:db8:1::5/64", "dev", "cm0", "nodad"],
                        ["addr", "add", "2001:db8:1::3/64", "dev", "cm0", "nodad",
                         "preferred_lft", "0"]):
            subprocess.run(["ip", "-n", namespace, *command], check=True)
        probe = ("import sys; from chipmunk.client.local_ipv6 import stable_ipv6; "
                 "print(stable_ipv6(sys.argv[1]))")
        chosen = subprocess.run(["ip", "netns", "exec", namespace, sys.executable, "-c",
                                 probe, "cm0"], capture_output=True, text=True, check=True,
                                env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=30)
        assert chosen.stdout.strip() == "2001:db8:1::5", "the deprecated ::3 is skipped"
    finally:
        subprocess.run(["ip", "netns", "del", namespace], check=True)
