"""Real dyndns2 clients report to a real chipmunk-server that publishes to BIND.

Debian's ddclient and inadyn, GNU wget, curl (the FRITZ!Box form) and
chipmunk-client's own dyndns2 provider send their updates over loopback;
every publish is verified by a DNS query to named, never by trusting the
answer.  Two servers publishing to one named show how Chipmunk grows past
one machine.
"""
from __future__ import annotations

import subprocess
import time

import pytest

from bind import HOME, NAS, publishing_config
from helpers import WAIT, basic, run_client, wait_until, write_client_config
from routers import ddclient


@pytest.fixture
def server(tmp_path, named, start_server):
    running = start_server(publishing_config(tmp_path, named))
    host, port = running.addresses[0]
    running.base = f"http://{host}:{port}"
    running.port = port
    return running


def nic_update(server, query: str, user: str = "alice", password: str = "wonderland"):
    status, _, body = server.request("GET", f"/nic/update?{query}",
                                     {"Authorization": basic(user, password)})
    return status, body.decode()


def test_publishes_to_bind_and_answers_repeats_from_what_it_knows(server, named):
    assert nic_update(server, f"hostname={HOME}&myip=192.0.2.7") == (200, "good 192.0.2.7\n")
    assert named.query(HOME, "A") == ["192.0.2.7"]
    serial, asked = named.serial(), named.queries(HOME)
    for _ in range(50):
        assert nic_update(server, f"hostname={HOME}&myip=192.0.2.7") == \
            (200, "nochg 192.0.2.7\n")
    assert named.serial() == serial, "nochg costs no DNS update"
    assert named.queries(HOME) == asked, "nor a DNS read: the address is known"


def test_a_record_changed_behind_the_servers_back_is_repaired_within_recheck(
        tmp_path, named, start_server):
    server = start_server(publishing_config(tmp_path, named).replace(
        "backoff = 1\n", "backoff = 1\nrecheck = 2\n"))
    assert nic_update(server, f"hostname={HOME}&myip=192.0.2.7")[1] == "good 192.0.2.7\n"
    named.set(HOME, "A", "203.0.113.1")  # another admin, behind the server's back
    assert nic_update(server, f"hostname={HOME}&myip=192.0.2.7")[1] == "nochg 192.0.2.7\n"
    wait_until(lambda: nic_update(server, f"hostname={HOME}&myip=192.0.2.7")[1] ==
               "good 192.0.2.7\n", "a read of DNS at the recheck, and the repair",
               timeout=5, interval=0.2)
    assert named.query(HOME, "A") == ["192.0.2.7"]


def test_a_failed_publish_is_911_and_the_same_request_then_publishes(server, named):
    named.stop()
    assert nic_update(server, f"hostname={HOME}&myip=192.0.2.8") == (200, "911\n")
    assert f"rfc2136 {HOME} A: rfc2136: updating" not in server.stderr()
    assert f"rfc2136 {HOME} A: rfc2136: reading {HOME} A: cannot reach 127.0.0.1" in \
        server.stderr() and "user=alice" in server.stderr()
    named.start()
    # the provider just failed: not called again during [Publish] backoff (1 s here)
    started = time.monotonic()
    assert nic_update(server, f"hostname={HOME}&myip=192.0.2.8") == (200, "911\n")
    assert time.monotonic() - started < 0.5, "answered at once"
    assert server.stderr().count("not called for 1s ([Publish] backoff)") == 1
    wait_until(lambda: nic_update(server, f"hostname={HOME}&myip=192.0.2.8") ==
               (200, "good 192.0.2.8\n"), "the back-off to end and the update to publish",
               interval=0.3)
    assert named.query(HOME, "A") == ["192.0.2.8"]


def test_dual_stack_and_one_family_at_a_time(server, named):
    assert nic_update(server, f"hostname={NAS}&myip=192.0.2.9,2001:db8::9")[1] == \
        "good 192.0.2.9,2001:db8::9\n"
    assert nic_update(server, f"hostname={NAS}&myipv6=2001:db8::10&myip=192.0.2.9")[1] == \
        "good 192.0.2.9,2001:db8::10\n"
    assert named.query(NAS, "A") == ["192.0.2.9"] and named.query(NAS, "AAAA") == \
        ["2001:db8::10"]
    assert nic_update(server, f"hostname={NAS}&myip=192.0.2.11")[1] == "good 192.0.2.11\n"
    assert named.query(NAS, "AAAA") == ["2001:db8::10"], "a v4-only update leaves AAAA alone"


def test_ddclient_two_hosts_in_one_request(tmp_path, server, named):
    said = ddclient(tmp_path, server.port, "alice", "wonderland", f"{HOME},{NAS}",
                    "192.0.2.21")
    assert named.query(HOME, "A") == ["192.0.2.21"], said
    assert named.query(NAS, "A") == ["192.0.2.21"], said


def inadyn(tmp_path, server, name: str, address: str) -> subprocess.CompletedProcess:
    config = tmp_path / f"inadyn-{name}.conf"
    config.write_text(
        "period = 60\nallow-ipv6 = true\n"
        f"custom {name} {{\n    ssl = false\n    username = alice\n"
        "    password = wonderland\n"
        f"    ddns-server = 127.0.0.1:{server.port}\n"
        '    ddns-path = "/nic/update?hostname=%h&myip=%i"\n'
        f'    checkip-command = "/bin/echo {address}"\n'
        f"    hostname = {HOME}\n}}\n")
    config.chmod(0o600)
    cache = tmp_path / f"inadyn-{name}-cache"
    cache.mkdir()
    return subprocess.run(
        ["inadyn", "-1", "--foreground", "-f", str(config), "--cache-dir", str(cache),
         "-l", "debug", "-P", str(tmp_path / f"inadyn-{name}.pid")],
        capture_output=True, text=True, timeout=WAIT * 4)


def test_inadyn_ipv4_and_ipv6(tmp_path, server, named):
    v4 = inadyn(tmp_path, server, "chipmunk4", "192.0.2.22")
    assert named.query(HOME, "A") == ["192.0.2.22"], v4.stdout + v4.stderr
    v6 = inadyn(tmp_path, server, "chipmunk6", "2001:db8::22")
    assert named.query(HOME, "AAAA") == ["2001:db8::22"], v6.stdout + v6.stderr
    assert named.query(HOME, "A") == ["192.0.2.22"], "an IPv6 update leaves A alone"


def test_wget_with_credentials_in_the_url_as_openwrt_does(tmp_path, server, named):
    """GNU wget sends the credentials only after the 401 challenge."""
    url = (f"http://alice:wonderland@127.0.0.1:{server.port}/nic/update?"
           f"hostname={HOME}&myip=192.0.2.23")
    result = subprocess.run(["wget", "-q", "-O", "-", url], capture_output=True, text=True,
                            timeout=WAIT)
    assert (result.returncode, result.stdout) == (0, "good 192.0.2.23\n"), result.stderr
    assert named.query(HOME, "A") == ["192.0.2.23"]


def test_curl_as_a_fritzbox_sends_it(server, named):
    url = (f"http://127.0.0.1:{server.port}/nic/update?hostname={HOME}"
           "&myip=192.0.2.24,2001:db8::24")
    result = subprocess.run(["curl", "-sS", "-u", "alice:wonderland", url],
                            capture_output=True, text=True, timeout=WAIT)
    assert result.stdout == "good 192.0.2.24,2001:db8::24\n", result.stderr
    assert named.query(HOME, "A") == ["192.0.2.24"]
    assert named.query(HOME, "AAAA") == ["2001:db8::24"]


def test_chipmunk_clients_own_dyndns2_provider(tmp_path, server, named):
    section = (f"[dyndns2]\nserver = {server.base}\nusername = alice\npassword = wonderland\n"
               f"host = {HOME}\n")
    config = write_client_config(tmp_path / "client.ini", server.base, tmp_path / "cstate",
                                 "dyndns2", section)
    result = run_client(config, "once")
    assert result.returncode == 0, result.stderr
    assert named.query(HOME, "A") == ["127.0.0.1"], "the address the server saw"


def test_two_servers_publish_to_one_named(tmp_path, named, start_server):
    first = start_server(publishing_config(tmp_path, named, "state1"))
    second = start_server(publishing_config(tmp_path, named, "state2"))
    assert nic_update(first, f"hostname={HOME}&myip=192.0.2.31")[1] == "good 192.0.2.31\n"
    assert nic_update(second, f"hostname={HOME}&myip=192.0.2.31")[1] == \
        "nochg 192.0.2.31\n", "the second server reads what the first published"
    assert nic_update(second, f"hostname={HOME}&myip=192.0.2.32")[1] == "good 192.0.2.32\n"
    assert nic_update(first, f"hostname={HOME}&myip=192.0.2.32")[1] == "nochg 192.0.2.32\n"
    assert named.query(HOME, "A") == ["192.0.2.32"]
