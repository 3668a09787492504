"""The HTTP API of a real chipmunk-server process on loopback (IPv4 and ::1)."""
from __future__ import annotations

import base64
import http.client
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from chipmunk.server.passwords import hash_password
from helpers import WAIT, ServerProcess, basic, server_config

BOB_HASH = hash_password("b0b's secret")


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("state")


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory, state_dir):
    users = f"alice = wonderland\nBob = {BOB_HASH}\n"
    process = ServerProcess(tmp_path_factory.mktemp("server"),
                            server_config(state_dir, users,
                                          server="auth_failure_limit = 1000\n"))
    process.start().wait_ready()
    yield process
    assert process.stop() == 0


ALICE = {"Authorization": basic("alice", "wonderland")}
BOB = {"Authorization": basic("Bob", "b0b's secret")}


@pytest.mark.parametrize("address, expected", [(0, "127.0.0.1"), (1, "::1")])
def test_get_ip_text_on_both_families(shared_server, address, expected):
    status, headers, body = shared_server.request("GET", "/get/ip", ALICE, address=address)
    assert status == 200
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert body == f"Your IP:  {expected}\n".encode()


def test_get_ip_json(shared_server):
    status, headers, body = shared_server.request("GET", "/get/ip.json", BOB)
    assert (status, headers["Content-Type"]) == (200, "application/json")
    assert json.loads(body) == {"Client_IP": "127.0.0.1"}


def test_bare_ip(shared_server):
    status, headers, body = shared_server.request("GET", "/ip", ALICE, address=1)
    assert (status, body) == (200, b"::1\n")


def test_head_has_headers_and_no_body(shared_server):
    status, headers, body = shared_server.request("HEAD", "/get/ip", ALICE)
    assert status == 200 and body == b""
    assert headers["Content-Length"] == str(len("Your IP:  127.0.0.1\n"))


@pytest.mark.parametrize("path", ["/index.html", "/get", "/get/ip/", "/set.json", "/../etc/passwd"])
def test_unknown_paths_are_404(shared_server, path):
    status, headers, body = shared_server.request("GET", path, ALICE)
    assert (status, body) == (404, b"Not found\n")


@pytest.mark.parametrize("method, path, allow", [
    ("POST", "/get/ip", "GET, HEAD"), ("PUT", "/ip", "GET, HEAD"),
    ("DELETE", "/set", "GET, POST"), ("HEAD", "/set", "GET, POST")])
def test_wrong_method_is_405_with_allow(shared_server, method, path, allow):
    status, headers, _ = shared_server.request(method, path, ALICE)
    assert status == 405 and headers["Allow"] == allow


BAD_AUTHORIZATION = {
    "missing": None,
    "not basic": "Bearer abcdef",
    "bad base64": "Basic !!!notbase64",
    "no colon": "Basic " + base64.b64encode(b"alicewonderland").decode(),
    "non-utf-8 username": "Basic " + base64.b64encode(b"\xff\xfe:wonderland").decode(),
    "unknown user": basic("mallory", "wonderland"),
    "wrong password": basic("alice", "Wonderland"),
    "wrong hashed password": basic("Bob", "b0b's secreT"),
    "empty password": basic("alice", ""),
    "username case differs": basic("bob", "b0b's secret"),
    "empty scheme value": "Basic ",
}


@pytest.mark.parametrize("kind", BAD_AUTHORIZATION)
def test_bad_credentials_get_the_same_401(shared_server, kind):
    header = BAD_AUTHORIZATION[kind]
    status, headers, body = shared_server.request(
        "GET", "/get/ip", {"Authorization": header} if header else {})
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Basic realm="chipmunk", charset="UTF-8"'
    assert body == b"Authentication required\n"


def test_failed_login_is_logged_without_password(shared_server):
    shared_server.request("GET", "/get/ip", {"Authorization": basic("alice", "s3cr3t-guess")})
    log = shared_server.stderr()
    assert "failed login from 127.0.0.1 as 'alice'" in log
    assert "s3cr3t-guess" not in log and "wonderland" not in log


def test_a_username_cannot_forge_log_lines(shared_server):
    # Basic auth ends the username at the first colon: the forged line has none.
    forged = "mallory\ninfo  address of alice is now 6.6.6.6\x1b[2J"
    assert shared_server.request("GET", "/ip", {"Authorization": basic(forged, "x")})[0] == 401
    log = shared_server.stderr()
    assert "as 'mallory\\ninfo  address of alice is now 6.6.6.6\\x1b[2J'" in log
    assert "user=mallory\\ninfo  address" in log
    assert not any(line.startswith("info  address") for line in log.splitlines())
    assert "\x1b" not in log


def test_set_writes_the_file_once_and_touches_updated(shared_server, state_dir):
    status, _, body = shared_server.request("GET", "/set", ALICE)
    assert status == 200
    assert json.loads(body) == {"Client_IP": "127.0.0.1", "status": "saved", "changed": True}
    cm_file, flag = state_dir / "alice.cm", state_dir / "updated"
    assert cm_file.read_text() == "127.0.0.1\n"
    assert flag.read_bytes() == b""
    os.utime(flag, ns=(0, 0))  # so that touching it cannot go unnoticed
    before = (cm_file.stat().st_ino, cm_file.stat().st_mtime_ns, flag.stat().st_mtime_ns)

    status, _, body = shared_server.request("POST", "/set", ALICE, body=b"ignored")
    assert json.loads(body)["changed"] is False
    assert (cm_file.stat().st_ino, cm_file.stat().st_mtime_ns,
            flag.stat().st_mtime_ns) == before

    status, _, body = shared_server.request("GET", "/set", ALICE, address=1)
    assert json.loads(body) == {"Client_IP": "::1", "status": "saved", "changed": True}
    assert cm_file.read_text() == "::1\n"
    assert cm_file.stat().st_ino != before[0], "replaced by rename, not rewritten in place"
    assert flag.stat().st_mtime_ns > 0, "the change touched 'updated'"


def test_set_keeps_username_case_in_file_name(shared_server, state_dir):
    shared_server.request("GET", "/set", BOB)
    assert (state_dir / "Bob.cm").read_text() == "127.0.0.1\n"


def test_set_failure_is_json_500_without_traceback(tmp_path, start_server):
    state = tmp_path / "state"
    server = start_server(server_config(state))
    state.rmdir()  # a file where the directory was (check refuses one from the start)
    state.write_text("")
    status, headers, body = server.request("GET", "/set", ALICE)
    assert status == 500 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"Client_IP": "127.0.0.1", "status": "failed"}
    assert "cannot save the address of alice" in server.stderr()
    assert "Traceback" not in server.stderr()


def test_keep_alive_connection_serves_many_requests(shared_server):
    host, port = shared_server.addresses[0]
    connection = http.client.HTTPConnection(host, port, timeout=WAIT)
    try:
        for _ in range(20):
            status, _, body = shared_server.request("GET", "/ip", ALICE, connection=connection)
            assert (status, body) == (200, b"127.0.0.1\n")
    finally:
        connection.close()


def test_200_parallel_requests_all_answered(shared_server):
    def one(index: int) -> tuple[int, bytes]:
        path, headers = ("/get/ip", ALICE) if index % 2 else ("/get/ip.json", BOB)
        status, _, body = shared_server.request("GET", path, headers, address=index % 2)
        return status, body

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(one, range(200)))
    for index, (status, body) in enumerate(results):
        assert status == 200
        expected = b"Your IP:  ::1\n" if index % 2 else b'{"Client_IP": "127.0.0.1"}'
        assert body == expected


def test_oversized_headers_are_refused(shared_server):
    status, _, body = shared_server.request("GET", "/ip", {**ALICE, "X-Padding": "x" * 20000})
    assert status == 413 and b"exceed the maximum allowed bytes" in body


def test_oversized_body_is_refused(shared_server):
    status, _, _ = shared_server.request("POST", "/set", ALICE, body=b"x" * 10000)
    assert status == 413


def test_readers_never_see_a_torn_file(tmp_path, start_server):
    """Many /set with changing addresses while a reader polls the .cm file."""
    state = tmp_path / "state"
    state.mkdir()
    server = start_server(server_config(state, server="trusted_proxies = 127.0.0.1\n"))
    seen: set[str] = set()
    stop = threading.Event()

    def reader() -> None:
        path = state / "alice.cm"
        while not stop.is_set():
            try:
                seen.add(path.read_text())
            except FileNotFoundError:
                pass

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for index in range(150):
            address = f"192.0.2.{index % 50 + 1}"
            status, _, body = server.request(
                "GET", "/set", {**ALICE, "X-Forwarded-For": address})
            assert status == 200 and json.loads(body)["Client_IP"] == address
    finally:
        stop.set()
        thread.join(timeout=WAIT)
    expected = {f"192.0.2.{n}\n" for n in range(1, 51)}
    assert seen and seen <= expected, seen - expected
    leftovers = [name for name in os.listdir(state) if name.endswith(".tmp")]
    assert leftovers == []
