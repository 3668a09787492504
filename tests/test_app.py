"""The WSGI app in-process: an environ, a start_response, no process and no port.

Routes, methods, authentication, lockout, proxies and /set are decided here;
tests/test_server_http.py keeps what only a real server shows (sockets,
keep-alive, size limits, both address families).
"""
from __future__ import annotations

import json
import os

import pytest

from chipmunk.server.app import ChipmunkApp
from chipmunk.server.budget import HashBudget
from chipmunk.server.lockout import LockoutTable
from chipmunk.server.passwords import hash_password
from chipmunk.server.serverwide import ServerWide
from chipmunk.server.settings import load_text
from helpers import basic
from inprocess import Client, Clock, make_app

ALICE = basic("alice", "wonderland")


@pytest.fixture
def client(tmp_path) -> Client:
    return Client(make_app(tmp_path))


def test_the_original_routes(client):
    assert client.request("GET", "/get/ip")[2] == b"Your IP:  192.0.2.10\n"
    status, headers, body = client.request("GET", "/get/ip.json")
    assert (status, headers["Content-Type"], json.loads(body)) == (
        200, "application/json", {"Client_IP": "192.0.2.10"})
    assert client.request("GET", "/ip", peer="2001:db8::7")[2] == b"2001:db8::7\n"
    assert client.request("GET", "/ip", peer="::ffff:192.0.2.9")[2] == b"192.0.2.9\n"


def test_every_answer_has_length_and_no_store(client):
    for path in ("/get/ip", "/nope", "/set"):
        status, headers, body = client.request("GET", path)
        assert headers["Content-Length"] == str(len(body))
        assert headers["Cache-Control"] == "no-store"


def test_head_has_the_headers_of_get_and_no_body(client):
    status, headers, body = client.request("HEAD", "/get/ip")
    assert (status, body) == (200, b"")
    assert headers["Content-Length"] == str(len(b"Your IP:  192.0.2.10\n"))


@pytest.mark.parametrize("method, path, allow", [
    ("POST", "/get/ip", "GET, HEAD"), ("DELETE", "/ip", "GET, HEAD"),
    ("HEAD", "/set", "GET, POST"), ("PUT", "/set", "GET, POST")])
def test_wrong_method_is_405_with_allow(client, method, path, allow):
    status, headers, _ = client.request(method, path)
    assert (status, headers["Allow"]) == (405, allow)


@pytest.mark.parametrize("path", ["/index.html", "/get", "/get/ip/", "/set.json", "/GET/IP"])
def test_unknown_paths_are_404_even_without_credentials(client, path):
    assert client.request("GET", path, authorization=None)[0] == 404


@pytest.mark.parametrize("authorization", [
    None, "", "Bearer abc", "Basic !!!", basic("alice", "wrong"), basic("nobody", "x"),
    basic("Alice", "wonderland"), "Basic " + "YWxpY2U="])
def test_bad_credentials_get_one_and_the_same_401(client, authorization):
    status, headers, body = client.request("GET", "/ip", authorization=authorization)
    assert (status, body) == (401, b"Authentication required\n")
    assert headers["WWW-Authenticate"] == 'Basic realm="chipmunk", charset="UTF-8"'


def test_hashed_passwords_and_utf8_usernames(tmp_path):
    app = Client(make_app(tmp_path, users=f"bob = {hash_password('b€ilder')}\n"))
    assert app.request("GET", "/ip", basic("bob", "b€ilder"))[0] == 200
    assert app.request("GET", "/ip", basic("bob", "builder"))[0] == 401


def test_lockout_episode_per_client_address(tmp_path):
    clock = Clock()
    client = Client(make_app(tmp_path, "auth_failure_limit = 3\nauth_failure_window = 30\n"
                                       "auth_lockout = 60\n", clock=clock))
    wrong = basic("alice", "guess")
    assert [client.request("GET", "/ip", wrong)[0] for _ in range(3)] == [401] * 3
    status, headers, _ = client.request("GET", "/ip")
    assert (status, headers["Retry-After"]) == (429, "61")
    assert client.request("GET", "/ip", peer="192.0.2.11")[0] == 200, "another address"
    clock.now += 59
    assert client.request("GET", "/ip")[1]["Retry-After"] == "2"
    clock.now += 2
    assert client.request("GET", "/ip")[0] == 200, "the lockout ended"


def test_failures_outside_the_window_do_not_add_up(tmp_path):
    clock = Clock()
    client = Client(make_app(tmp_path, "auth_failure_limit = 2\nauth_failure_window = 10\n",
                             clock=clock))
    client.request("GET", "/ip", basic("alice", "guess"))
    clock.now += 11
    client.request("GET", "/ip", basic("alice", "guess"))
    assert client.request("GET", "/ip")[0] == 200


def test_a_reload_with_the_same_limits_keeps_the_lockouts(tmp_path):
    app = make_app(tmp_path, "auth_failure_limit = 1\n")
    client = Client(app)
    client.request("GET", "/ip", basic("alice", "guess"))
    text = (f"[Paths]\nclient_update_dir = {tmp_path}\n[Server]\nauth_failure_limit = 1\n"
            "[Users]\nalice = wonderland\nbob = builder\n")
    app.configure(load_text(text))
    assert client.request("GET", "/ip", basic("bob", "builder"))[0] == 429
    assert client.request("GET", "/ip", basic("bob", "builder"), peer="192.0.2.99")[0] == 200


def test_a_failure_the_full_lockout_table_cannot_count_is_logged(tmp_path, caplog):
    settings = load_text(f"[Paths]\nclient_update_dir = {tmp_path}\n[Server]\n"
                         "auth_failure_limit = 1\n[Users]\nalice = wonderland\n")
    shared = ServerWide(HashBudget(1), LockoutTable(capacity=2))
    client = Client(ChipmunkApp(settings, clock=Clock(), shared=shared))
    wrong = basic("alice", "guess")
    for peer in ("192.0.2.1", "192.0.2.2"):
        assert client.request("GET", "/ip", wrong, peer=peer)[0] == 401
    assert client.request("GET", "/ip", wrong, peer="203.0.113.9")[0] == 401
    assert "the failed login from 203.0.113.9 was not counted" in caplog.text
    assert "203.0.113.0/24" in caplog.text
    assert client.request("GET", "/ip", peer="203.0.113.9")[0] == 200, "nobody else refused"
    assert client.request("GET", "/ip", peer="192.0.2.1")[0] == 429, "no lockout evicted"


@pytest.mark.parametrize("proxy_header, headers, expected", [
    ("", {"X_FORWARDED_FOR": "203.0.113.5"}, (200, b"203.0.113.5\n")),
    ("", {"X_FORWARDED_FOR": "198.51.100.1, 203.0.113.5, 10.0.0.2"}, (200, b"203.0.113.5\n")),
    ("", {"X_FORWARDED_FOR": "unknown, 203.0.113.5"}, (200, b"203.0.113.5\n")),
    ("", {"FORWARDED": "for=203.0.113.66", "X_FORWARDED_FOR": "203.0.113.5"},
     (200, b"203.0.113.5\n")),
    ("", {"FORWARDED": "for=203.0.113.66"}, (200, b"10.0.0.1\n")),
    ("forwarded", {"FORWARDED": 'for="[2001:db8::5]:4711"'}, (200, b"2001:db8::5\n")),
    ("forwarded", {"X_FORWARDED_FOR": "203.0.113.66"}, (200, b"10.0.0.1\n")),
    ("", {"X_FORWARDED_FOR": "203.0.113.5, garbage"}, (400, b"Cannot tell your address\n")),
])
def test_trusted_proxy_headers(tmp_path, proxy_header, headers, expected):
    option = f"proxy_header = {proxy_header}\n" if proxy_header else ""
    client = Client(make_app(tmp_path, f"trusted_proxies = 10.0.0.0/8\n{option}"))
    status, _, body = client.request("GET", "/ip", peer="10.0.0.1", **headers)
    assert (status, body) == expected


def test_unreadable_proxy_entries_are_logged_in_summary_not_per_request(tmp_path, caplog):
    client = Client(make_app(tmp_path, "trusted_proxies = 10.0.0.0/8\n"))
    for _ in range(20):
        assert client.request("GET", "/ip", peer="10.0.0.1",
                              X_FORWARDED_FOR="203.0.113.5, unknown")[0] == 400
    assert caplog.text.count("cannot be read") == 1


def test_untrusted_peers_cannot_claim_an_address(tmp_path):
    client = Client(make_app(tmp_path, "trusted_proxies = 10.0.0.0/8\n"))
    assert client.request("GET", "/ip", X_FORWARDED_FOR="203.0.113.5")[2] == b"192.0.2.10\n"


def test_set_stores_the_address_and_touches_updated_only_on_change(tmp_path, client):
    os.utime(tmp_path, ns=(0, 0))
    status, _, body = client.request("POST", "/set", body=b"ignored")
    assert (status, json.loads(body)) == (200, {"Client_IP": "192.0.2.10", "status": "saved",
                                                "changed": True})
    assert (tmp_path / "alice.cm").read_text() == "192.0.2.10\n"
    flag = tmp_path / "updated"
    os.utime(flag, ns=(0, 0))
    assert json.loads(client.request("GET", "/set")[2])["changed"] is False
    assert flag.stat().st_mtime_ns == 0, "no change, no touch"
    assert json.loads(client.request("GET", "/set", peer="192.0.2.77")[2])["changed"] is True
    assert flag.stat().st_mtime_ns > 0
    assert (tmp_path / "alice.cm").read_text() == "192.0.2.77\n"


def test_set_failure_is_json_500_and_logged(tmp_path, caplog):
    client = Client(make_app(tmp_path / "missing" / "deeper"))
    (tmp_path / "missing").write_text("a file where a directory should be")
    status, _, body = client.request("GET", "/set")
    assert (status, json.loads(body)) == (500, {"Client_IP": "192.0.2.10",
                                                "status": "failed"})
    assert any(getattr(r, "CHIPMUNK_EVENT", "") == "set-failed" for r in caplog.records)


def test_a_peer_address_that_does_not_parse_is_400(client):
    status, _, body = client.request("GET", "/ip", peer="not an address")
    assert (status, body) == (400, b"Cannot tell your address\n")
