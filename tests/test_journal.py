"""Structured journal fields, received on a real journal socket."""
from __future__ import annotations

import http.client
import os
import sys
from pathlib import Path

import pytest

from chipmunk.events import Event
from helpers import WAIT, NotifySocket, basic, client_config, parse_status_addresses, server_config
from journal import FakeJournal

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for unshare -m")


@pytest.fixture
def journal(tmp_path):
    fake = FakeJournal(tmp_path)
    yield fake
    fake.close()


def test_client_events_carry_fields_and_message_ids(tmp_path, start_server, journal):
    server = start_server(server_config(tmp_path, listen="127.0.0.1:0"))
    host, port = server.addresses[0]
    config = tmp_path / "client.ini"
    config.write_text(client_config(
        f"http://{host}:{port}", tmp_path / "state", "hostsfile",
        f"[hostsfile]\npath = {tmp_path / 'hosts'}\nnames = home.lan\n"))
    config.chmod(0o600)
    stderr = tmp_path / "stderr"
    code = journal.run([sys.executable, "-m", "chipmunk.client.cli", "--config",
                        str(config), "once"], stderr)
    assert code == 0, stderr.read_text()
    assert stderr.read_text() == "", "logs went to the journal, not to stderr"
    entries = {entry.get("CHIPMUNK_EVENT"): entry for entry in journal.entries()}
    changed = entries["address-changed"]
    assert changed["MESSAGE_ID"] == Event.ADDRESS_CHANGED.message_id
    assert changed["CHIPMUNK_IP"] == "127.0.0.1"
    assert changed["SYSLOG_IDENTIFIER"] == "chipmunk-client"
    assert changed["PRIORITY"] == "6"
    updated = entries["dns-updated"]
    assert updated["MESSAGE_ID"] == Event.DNS_UPDATED.message_id
    assert updated["CHIPMUNK_PROVIDER"] == "hostsfile"
    assert updated["CHIPMUNK_RECORD"] == "hostsfile home.lan A"
    assert updated["MESSAGE"] == "hostsfile home.lan A created: (missing) -> 127.0.0.1"
    assert "wonderland" not in repr(entries), "no secret in any field"


def test_server_auth_failures_are_structured(tmp_path, journal):
    config = tmp_path / "server.ini"
    config.write_text(server_config(tmp_path, listen="127.0.0.1:0"))
    notify = NotifySocket(tmp_path / "notify.sock")
    server = journal.start([sys.executable, "-m", "chipmunk.server.cli", "--config",
                            str(config)], tmp_path / "stderr", NOTIFY_SOCKET=str(notify.path))
    try:
        host, port = parse_status_addresses(notify.wait_for("READY", "1")["STATUS"])[0]
        connection = http.client.HTTPConnection(host, port, timeout=WAIT)
        connection.request("GET", "/get/ip", headers={
            "Authorization": basic("alice", "not-the-password")})
        assert connection.getresponse().status == 401
        connection.close()
    finally:
        server.terminate()
        assert server.wait(timeout=WAIT) == 0
        notify.close()
    entries = journal.entries()
    failed = [e for e in entries if e.get("CHIPMUNK_EVENT") == "auth-failed"]
    assert len(failed) == 1
    assert failed[0]["CHIPMUNK_USER"] == "alice"
    assert failed[0]["CHIPMUNK_CLIENT_IP"] == "127.0.0.1"
    assert failed[0]["SYSLOG_IDENTIFIER"] == "chipmunk-server"
    assert "not-the-password" not in repr(entries)
    assert any("plain-text password" in e.get("MESSAGE", "") and e["PRIORITY"] == "4"
               for e in entries), "warnings reach the journal as warnings"


def test_readme_lists_every_event_with_its_message_id():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    table = readme.split("\n## Journal events\n", 1)[1].split("\n## ", 1)[0]
    listed = {line.split("|")[1].strip() for line in table.splitlines()
              if line.startswith("| ") and "`" in line}
    for event in Event:
        assert f"| {event.tag} | `{event.message_id}` |" in readme
    assert listed == {event.tag for event in Event}, "no stale rows either"


def test_message_ids_are_unique_128_bit_ids():
    ids = [event.message_id for event in Event]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
