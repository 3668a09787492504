"""Publishing that scales: known state, one deadline, a circuit breaker, isolation.

Real BIND (TSIG) and real PowerDNS through lexicon; provider calls are
counted in the providers' own logs (named's query log, PowerDNS's API log),
never in ours.  BIND is paused with SIGSTOP for the slow case.
"""
from __future__ import annotations

import concurrent.futures
import os
import re
import signal
import stat
import time

import pytest

from bind import KEY_NAME, ZONE, Named
from chipmunk.server.publisher import Published
from chipmunk.server.settings import load_text
from helpers import WAIT, basic, server_config, wait_until
from inprocess import Client, make_app

HOME, NAS = f"home.{ZONE}", f"nas.{ZONE}"
ALICE = {"Authorization": basic("alice", "wonderland")}
BOB = {"Authorization": basic("bob", "builder")}
USERS = "alice = wonderland\nbob = builder\n"


def config(state, provider: str, publish: str = "", server: str = "",
           hostnames: str = f"alice = {HOME}, {NAS}\n") -> str:
    state.mkdir(exist_ok=True)
    return (server_config(state, users=USERS, listen="127.0.0.1:0",
                          server="publish_non_global = yes\n" + server)
            + f"\n[Hostnames]\n{hostnames}\n[Publish]\n{publish}{provider}")


def rfc2136(named: Named) -> str:
    return (f"provider = rfc2136\n\n[rfc2136]\nserver = 127.0.0.1\nport = {named.port}\n"
            f"zone = {ZONE}\nkey_name = {KEY_NAME}\nkey_secret = {named.secret}\nttl = 60\n")


def update(server, query: str, headers=None) -> str:
    return server.request("GET", f"/nic/update?{query}", headers or ALICE)[2].decode()


def test_the_known_state_is_one_for_both_workers_and_outlives_a_restart(
        tmp_path, start_server, named):
    text = config(tmp_path / "state", rfc2136(named), server="workers = 2\n")
    server = start_server(text)
    assert update(server, f"hostname={HOME}&myip=192.0.2.7") == "good 192.0.2.7\n"
    asked = named.queries(HOME)
    # 40 new connections: the kernel spreads them over both workers
    assert {update(server, f"hostname={HOME}&myip=192.0.2.7") for _ in range(40)} == \
        {"nochg 192.0.2.7\n"}
    server.stop()
    again = start_server(text)
    assert update(again, f"hostname={HOME}&myip=192.0.2.7") == "nochg 192.0.2.7\n"
    assert named.queries(HOME) == asked, "41 nochg, no DNS read"
    assert update(again, f"hostname={HOME}&myip=192.0.2.8") == "good 192.0.2.8\n"
    assert named.query(HOME, "A") == ["192.0.2.8"]


def test_each_worker_answers_from_what_the_other_wrote(tmp_path, start_server, named):
    """The workers keep what they read of the known state and the .cm in
    memory: a change one of them published is seen by the other at once
    (new connections land on either worker), never answered nochg from an
    old read."""
    server = start_server(config(tmp_path / "state", rfc2136(named), server="workers = 2\n"))
    for round_ in range(12):
        address = f"192.0.2.{10 + round_ % 2}"
        assert update(server, f"hostname={HOME}&myip={address}") == f"good {address}\n"
        assert {update(server, f"hostname={HOME}&myip={address}") for _ in range(6)} == \
            {f"nochg {address}\n"}
    assert named.query(HOME, "A") == ["192.0.2.11"]
    assert (tmp_path / "state" / "alice.cm").read_text() == "192.0.2.11\n"


def test_a_repeated_answer_is_not_kept_past_recheck(tmp_path, start_server, named):
    """A repeated nochg is answered from memory, but the provider is asked
    again once recheck passed since it last confirmed the record."""
    server = start_server(config(tmp_path / "state", rfc2136(named),
                                 publish="recheck = 1\n"))
    began = time.monotonic()
    assert update(server, f"hostname={HOME}&myip=192.0.2.7") == "good 192.0.2.7\n"
    asked = named.queries(HOME)
    time.sleep(max(began + 0.5 - time.monotonic(), 0))
    assert update(server, f"hostname={HOME}&myip=192.0.2.7") == "nochg 192.0.2.7\n"
    assert named.queries(HOME) == asked, "within recheck: no DNS read"
    time.sleep(max(began + 1.2 - time.monotonic(), 0))
    assert update(server, f"hostname={HOME}&myip=192.0.2.7") == "nochg 192.0.2.7\n"
    assert named.queries(HOME) == asked + 1, "recheck passed: the provider was read"


def test_the_status_page_asks_no_provider(tmp_path, start_server, named):
    server = start_server(config(tmp_path / "state", rfc2136(named)))
    assert update(server, f"hostname={HOME}&myip=192.0.2.7,2001:db8::7") == \
        "good 192.0.2.7,2001:db8::7\n"
    asked = named.queries(HOME) + named.queries(NAS)
    for accept in ("text/plain", "text/html"):
        for method in ("GET", "HEAD"):
            for _ in range(10):
                assert server.request(method, "/", {**ALICE, "Accept": accept})[0] == 200
    page = server.request("GET", "/", ALICE)[2].decode()
    assert re.search(rf"{HOME} IPv4: 192\.0\.2\.7 \(changed [^;]+; confirmed \d+ s ago\)", page)
    assert f"{NAS} IPv4: - (changed -)" in page
    assert named.queries(HOME) + named.queries(NAS) == asked, "40 views, no DNS query"


def test_repeated_names_are_one_record_each(tmp_path, start_server, named):
    server = start_server(config(tmp_path / "state", rfc2136(named),
                                 publish="recheck = 0\n"))
    names = ",".join([HOME, HOME.upper(), HOME + "."] * 6 + [NAS])
    lines = update(server, f"hostname={names}&myip=192.0.2.7,2001:db8::7").splitlines()
    assert lines == ["good 192.0.2.7,2001:db8::7"] * 19
    # recheck = 0: every request reads, but each record once, not once per repeat
    assert named.queries(HOME) <= 2 + 2, "a read of A and AAAA, and the check after writing"


def test_a_paused_dns_server_costs_one_deadline_and_holds_nobody_else(
        tmp_path, start_server, named):
    server = start_server(config(tmp_path / "state", rfc2136(named),
                                 publish="timeout = 2\nbackoff = 0\n", server="threads = 4\n",
                                 hostnames=f"alice = {HOME}, {NAS}\n"))
    named.process.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        assert update(server, f"hostname={HOME},{NAS}&myip=192.0.2.7,2001:db8::7") == \
            "911\n911\n"
        took = time.monotonic() - started
        assert took < 3, f"one deadline for the request (2 s), not 2 x 2 x 2: {took:.1f}s"
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            waiting = [pool.submit(update, server, f"hostname={HOME}&myip=192.0.2.{n}")
                       for n in range(10, 26)]
            time.sleep(0.3)  # they are all sent: some wait on BIND, the rest are refused
            for _ in range(10):
                begin = time.monotonic()
                assert server.request("GET", "/get/ip", BOB)[0] == 200
                assert time.monotonic() - begin < 1, "another user is answered meanwhile"
            answers = [future.result(timeout=WAIT) for future in waiting]
        assert set(answers) == {"911\n"}
        assert time.monotonic() - started < 8, "every waiting update answered by its deadline"
    finally:
        named.process.send_signal(signal.SIGCONT)
    assert "every thread allowed to wait on them (half of [Server] threads) was waiting" \
        in server.stderr()
    assert update(server, f"hostname={HOME}&myip=192.0.2.7") == "good 192.0.2.7\n"


def test_lexicon_fetches_the_zone_once_per_request(tmp_path, start_server, pdns):
    key = tmp_path / "pdns-key"
    key.write_text(pdns.api_key)
    names = [f"h{n}.{ZONE}" for n in range(10)]
    server = start_server(config(
        tmp_path / "state", f"provider = powerdns\n\n[powerdns]\nzone = {ZONE}\n"
        f"pdns_server = {pdns.url}\nauth_token_file = {key}\npdns_server_id = localhost\n",
        publish="recheck = 0\n", hostnames=f"alice = {', '.join(names)}\n"))
    query = f"hostname={','.join(names)}&myip=192.0.2.7,2001:db8::7"
    assert update(server, query).splitlines() == ["good 192.0.2.7,2001:db8::7"] * 10
    zone = f"GET /api/v1/servers/localhost/zones/{ZONE}."
    wait_until(lambda: pdns.api_calls(zone) > 0, "PowerDNS to log the first request")
    before = pdns.api_calls(zone)
    assert update(server, query).splitlines() == ["nochg 192.0.2.7,2001:db8::7"] * 10
    wait_until(lambda: pdns.api_calls(zone) > before, "PowerDNS to log the second request")
    time.sleep(0.5)  # anything more it would log
    assert pdns.api_calls(zone) - before == 1, "20 records read from one zone fetch"


def test_the_command_provider_runs_once_per_change_with_the_known_old_address(
        tmp_path, start_server):
    calls = tmp_path / "calls"
    script = tmp_path / "record.sh"
    script.write_text("#!/bin/sh\necho \"$1 $2 $3 old=$CHIPMUNK_OLD_IP\" >> "
                      f"{calls}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    server = start_server(config(tmp_path / "state",
                                 f"provider = command\n\n[command]\ncommand = {script}\n"))
    names = ",".join([HOME] * 20)
    assert update(server, f"hostname={names}&myip=192.0.2.7").splitlines() == \
        ["good 192.0.2.7"] * 20
    assert update(server, f"hostname={HOME}&myip=192.0.2.7") == "nochg 192.0.2.7\n"
    assert update(server, f"hostname={HOME}&myip=192.0.2.8") == "good 192.0.2.8\n"
    assert calls.read_text().splitlines() == [f"{HOME} A 192.0.2.7 old=",
                                              f"{HOME} A 192.0.2.8 old=192.0.2.7"]


@pytest.mark.parametrize("value, words", [("0.5", "0 (read every time) or a duration"),
                                          ("soon", "expected a duration")])
def test_recheck_is_zero_or_a_second_or_more(tmp_path, value, words):
    from chipmunk.config import ConfigError
    from chipmunk.server.settings import load_text
    with pytest.raises(ConfigError) as caught:
        load_text(f"[Paths]\nclient_update_dir = {tmp_path}\n[Publish]\nrecheck = {value}\n")
    assert "[Publish] recheck" in str(caught.value) and words in str(caught.value)
    assert load_text(f"[Paths]\nclient_update_dir = {tmp_path}\n[Publish]\n"
                     "recheck = 10m\n").recheck == 600
    assert os.path.isdir(tmp_path)


def test_a_reload_does_not_fail_the_updates_that_began_before_it(tmp_path):
    """A reload closes the old publisher while requests that began before it
    still publish through it: a thread pool of its own was shut down with it,
    and their names went nowhere (RuntimeError: a 500)."""
    app = make_app(tmp_path, "publish_non_global = yes\n",
                   extra=f"[Hostnames]\nalice = {HOME}, {NAS}\n")
    before = app.runtime
    app.configure(app.runtime.settings)  # the reload: the old publisher is closed
    assert before.publisher.publish("alice", [HOME, NAS], {"A": "192.0.2.7"}) == \
        {HOME: Published.GOOD, NAS: Published.GOOD}


def test_a_provider_pointed_elsewhere_by_a_reload_starts_from_nothing(tmp_path):
    """What a provider confirmed is known for its configuration: after a reload
    that points it at another file (server, zone), the first update writes."""
    def hosts_at(path) -> str:
        return (f"[Hostnames]\nalice = {HOME}\n[Publish]\nprovider = hostsfile\n"
                f"[hostsfile]\npath = {path}\n")
    app = make_app(tmp_path, "publish_non_global = yes\n", extra=hosts_at(tmp_path / "one"))
    client = Client(app)
    query = f"/nic/update?hostname={HOME}&myip=192.0.2.7"
    assert client.request("GET", query)[2] == b"good 192.0.2.7\n"
    assert client.request("GET", query)[2] == b"nochg 192.0.2.7\n"
    app.configure(load_text(
        f"[Paths]\nclient_update_dir = {tmp_path}\n[Server]\npublish_non_global = yes\n"
        f"[Users]\nalice = wonderland\n" + hosts_at(tmp_path / "two")))
    assert client.request("GET", query)[2] == b"good 192.0.2.7\n"
    assert (tmp_path / "two").read_text() == f"192.0.2.7 {HOME}\n"
    known = (tmp_path / "known" / HOME).read_text().splitlines()
    assert len(known) == 1 and known[0].startswith("hostsfile@"), "the old entry went"
