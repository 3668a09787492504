"""The rfc2136 provider against a real BIND9 named, checked over DNS."""
from __future__ import annotations

import socket
import socketserver
import struct
import threading

import dns.message
import dns.rcode
import dns.tsig
import pytest

from bind import KEY_NAME, OTHER_KEY_NAME, ZONE
from helpers import make_refresh_due, run_client, write_provider_config


def write_client(tmp_path, chipmunk_server, port: int, secret: str, key_name: str = KEY_NAME,
                 host: str = "home, @", record_types: str = "A, AAAA") -> object:
    section = (f"[rfc2136]\nserver = 127.0.0.1\nport = {port}\nzone = {ZONE}\n"
               f"host = {host}\nttl = 120\nkey_name = {key_name}\n"
               f"key_secret = {secret}\nrecord_types = {record_types}\n")
    return write_provider_config(tmp_path, chipmunk_server, "rfc2136", section)


def test_a_and_aaaa_from_one_config(tmp_path, chipmunk_server, named):
    config = write_client(tmp_path, chipmunk_server, named.port, named.secret)
    result = run_client(config, "once")
    assert result.returncode == 0, result.stderr
    assert named.query(f"home.{ZONE}", "A") == ["127.0.0.1"], "the whole rrset replaced"
    assert named.query(f"home.{ZONE}", "AAAA") == ["::1"]
    assert named.query(ZONE, "A") == ["127.0.0.1"] and named.query(ZONE, "AAAA") == ["::1"]
    assert "rfc2136 home.example.test A updated: 192.0.2.1 -> 127.0.0.1" in result.stderr
    assert "rfc2136 example.test AAAA created: (missing) -> ::1" in result.stderr


def test_reads_first_and_writes_only_what_differs(tmp_path, chipmunk_server, named):
    config = write_client(tmp_path, chipmunk_server, named.port, named.secret, host="home")
    assert run_client(config, "once").returncode == 0
    serial = named.serial()
    make_refresh_due(tmp_path)
    unchanged = run_client(config, "once")
    assert unchanged.returncode == 0, unchanged.stderr
    assert "home.example.test A already points to 127.0.0.1" in unchanged.stderr
    assert "home.example.test AAAA already points to ::1" in unchanged.stderr
    assert named.serial() == serial, "an unchanged rrset costs no update"

    named.set(f"home.{ZONE}", "A", "203.0.113.5", "203.0.113.6")  # edited elsewhere
    make_refresh_due(tmp_path)
    repaired = run_client(config, "once")
    assert repaired.returncode == 0, repaired.stderr
    assert "A updated: 203.0.113.5 203.0.113.6 -> 127.0.0.1" in repaired.stderr
    assert named.query(f"home.{ZONE}", "A") == ["127.0.0.1"], "the whole rrset replaced"


@pytest.mark.parametrize("change, words", [
    ({"secret": "c2VjcmV0LXRoYXQtaXMtd3Jvbmc="}, "the server refused the TSIG key"),
    ({"key_name": "no-such-key"}, "the server refused the TSIG key 'no-such-key'"),
    ({"key_name": OTHER_KEY_NAME, "other": True}, "REFUSED"),
])
def test_refusals_need_a_person(tmp_path, chipmunk_server, named, change, words):
    secret = named.other_secret if change.get("other") else change.get("secret", named.secret)
    config = write_client(tmp_path, chipmunk_server, named.port, secret,
                          key_name=change.get("key_name", KEY_NAME), host="home",
                          record_types="A")
    result = run_client(config, "once")
    assert result.returncode == 77, result.stderr
    assert words in result.stderr
    assert "needs attention" in result.stderr
    assert named.query(f"home.{ZONE}", "A") == ["192.0.2.1"], "nothing changed"


FAKE_SECRET = "c2VjcmV0LXRoYXQtaXMtd3Jvbmc="
FAKE_KEY = dns.tsig.Key(KEY_NAME, FAKE_SECRET, "hmac-sha256")


class FakeDNS(socketserver.ThreadingTCPServer):
    """A DNS-over-TCP peer (same TSIG key) that answers SERVFAIL, or never answers."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, silent: bool) -> None:
        self.silent = silent
        self.stop_event = threading.Event()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                length = struct.unpack("!H", self.request.recv(2))[0]
                query = dns.message.from_wire(self.request.recv(length), keyring=FAKE_KEY)
                if outer.silent:
                    outer.stop_event.wait(10)
                    return
                answer = dns.message.make_response(query)
                answer.set_rcode(dns.rcode.SERVFAIL)
                wire = answer.to_wire()
                self.request.sendall(struct.pack("!H", len(wire)) + wire)

        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop_event.set()
        self.shutdown()
        self.server_close()


@pytest.mark.parametrize("silent, words", [(False, "SERVFAIL"), (True, "no answer from")])
def test_servfail_and_timeouts_are_temporary(tmp_path, chipmunk_server, silent, words):
    fake = FakeDNS(silent)
    try:
        config = write_client(tmp_path, chipmunk_server, fake.server_address[1], FAKE_SECRET,
                              host="home", record_types="A")
        config.write_text(config.read_text().replace("timeout = 5", "timeout = 1"))
        result = run_client(config, "once")
    finally:
        fake.close()
    assert result.returncode == 75, result.stderr
    assert words in result.stderr


def test_nothing_listening_is_temporary(tmp_path, chipmunk_server):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = write_client(tmp_path, chipmunk_server, port, "c2VjcmV0", host="home",
                          record_types="A")
    result = run_client(config, "once")
    assert result.returncode == 75
    assert "cannot reach 127.0.0.1 port" in result.stderr
