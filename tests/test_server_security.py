"""TLS, proxy headers and brute-force lockout, over real connections."""
from __future__ import annotations

import http.client
import json
import signal
import socket
import ssl
import threading
import time
import warnings

import pytest

from helpers import WAIT, basic, server_config, start_trickling
from tlsfiles import client_context, https_get, tls_files

ALICE = {"Authorization": basic("alice", "wonderland")}


def tls11_only_client() -> ssl.SSLContext:
    """A client that offers nothing newer than TLS 1.1 (and really offers it)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1_1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    return context


def test_https_serves_and_reloads_certificates(tmp_path, start_server):
    first_ca, cert, key = tls_files(tmp_path, "first")
    options = f"tls_certificate = {cert}\ntls_private_key = {key}\n"
    server = start_server(server_config(tmp_path, server=options))
    assert server.notify.messages[-1]["STATUS"].endswith("over TLS")
    assert https_get(server.addresses[0], client_context(first_ca)) == (
        200, b"Your IP:  127.0.0.1\n")
    assert https_get(server.addresses[1], client_context(first_ca))[1] == b"Your IP:  ::1\n"

    with pytest.raises(ssl.SSLError, match="(?i)version|protocol"):
        https_get(server.addresses[0], tls11_only_client())

    second_ca, new_cert, new_key = tls_files(tmp_path, "second")
    cert.write_bytes(new_cert.read_bytes())
    key.write_bytes(new_key.read_bytes())
    server.send_signal(signal.SIGHUP)
    server.notify.wait_for("RELOADING", "1")
    server.notify.wait_for("READY", "1")
    assert https_get(server.addresses[0], client_context(second_ca))[0] == 200
    with pytest.raises(ssl.SSLCertVerificationError):
        https_get(server.addresses[0], client_context(first_ca))


def test_bad_tls_files_are_a_config_error(tmp_path, start_server):
    missing = tmp_path / "missing.pem"
    server = start_server(server_config(
        tmp_path, server=f"tls_certificate = {missing}\ntls_private_key = {missing}\n"),
        wait=False)
    assert server.process.wait(timeout=WAIT) == 78
    assert f"[Server] tls_certificate = '{missing}'" in server.stderr()


@pytest.mark.parametrize("proxy_header, headers, expected", [
    ("x-forwarded-for", {}, "127.0.0.1"),
    ("x-forwarded-for", {"X-Forwarded-For": "203.0.113.9"}, "203.0.113.9"),
    ("x-forwarded-for", {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}, "203.0.113.9"),
    ("x-forwarded-for", {"X-Forwarded-For": "203.0.113.9, 10.1.2.3"}, "203.0.113.9"),
    ("x-forwarded-for", {"X-Forwarded-For": "::ffff:203.0.113.9"}, "203.0.113.9"),
    ("x-forwarded-for", {"X-Forwarded-For": "not-an-address, 203.0.113.9"}, "203.0.113.9"),
    ("x-forwarded-for", {"Forwarded": "for=203.0.113.9", "X-Forwarded-For": "198.51.100.1"},
     "198.51.100.1"),
    ("forwarded", {"Forwarded": 'for="[2001:db8::7]:443";proto=https'}, "2001:db8::7"),
    ("forwarded", {"Forwarded": "for=198.51.100.1, for=203.0.113.9"}, "203.0.113.9"),
    ("forwarded", {"Forwarded": 'for="198.51.100.1, for=203.0.113.9'}, "203.0.113.9"),
    ("forwarded", {"Forwarded": "for=203.0.113.9", "X-Forwarded-For": "198.51.100.1"},
     "203.0.113.9"),
])
def test_trusted_proxy_headers(tmp_path, start_server, proxy_header, headers, expected):
    server = start_server(server_config(
        tmp_path, server=f"trusted_proxies = 127.0.0.0/8, 10.0.0.0/8\n"
                         f"proxy_header = {proxy_header}\n", listen="127.0.0.1:0"))
    status, _, body = server.request("GET", "/get/ip.json", {**ALICE, **headers})
    assert status == 200 and json.loads(body) == {"Client_IP": expected}


def test_headers_from_an_untrusted_peer_are_ignored(tmp_path, start_server):
    server = start_server(server_config(tmp_path, server="trusted_proxies = 10.0.0.0/8\n"))
    for headers in ({"X-Forwarded-For": "203.0.113.9"}, {"Forwarded": "for=203.0.113.9"}):
        assert server.request("GET", "/ip", {**ALICE, **headers})[2] == b"127.0.0.1\n"


def test_repeated_failures_lock_out_over_http(tmp_path, start_server):
    server = start_server(server_config(
        tmp_path, server="auth_failure_limit = 3\nauth_failure_window = 30\n"
                         "auth_lockout = 1.5\n"))
    wrong = {"Authorization": basic("alice", "guess")}
    assert [server.request("GET", "/ip", wrong)[0] for _ in range(3)] == [401] * 3
    status, headers, body = server.request("GET", "/ip", ALICE)
    assert status == 429 and headers["Retry-After"] in ("1", "2")
    assert server.request("GET", "/ip", wrong)[0] == 429
    # ::1 is another client address: it is not locked out by 127.0.0.1's failures.
    assert server.request("GET", "/ip", ALICE, address=1)[0] == 200
    assert server.stderr().count("locked out") == 1, "one log line per episode"


@pytest.mark.parametrize("address", [0, 1])  # 127.0.0.1, ::1
def test_with_workers_one_address_gets_the_limit_not_limit_times_workers(tmp_path,
                                                                         start_server, address):
    """The kernel spreads one client's connections over both workers (by source
    port); the workers count into one shared table, so the limit holds."""
    server = start_server(server_config(tmp_path, server=(
        "workers = 2\nauth_failure_limit = 6\nauth_failure_window = 60\n")))
    wrong = {"Authorization": basic("alice", "guess")}
    statuses = [server.request("GET", "/ip", wrong, address=address)[0] for _ in range(7)]
    assert statuses == [401] * 6 + [429]


def test_behind_a_proxy_the_forwarded_address_is_counted_once_for_all_workers(
        tmp_path, start_server):
    server = start_server(server_config(tmp_path, listen="127.0.0.1:0", server=(
        "workers = 2\nauth_failure_limit = 6\nauth_failure_window = 60\n"
        "trusted_proxies = 127.0.0.0/8\n")))
    wrong = {"Authorization": basic("alice", "guess"), "X-Forwarded-For": "203.0.113.9"}
    statuses = [server.request("GET", "/ip", wrong)[0] for _ in range(7)]
    assert statuses == [401] * 6 + [429]
    other = {**ALICE, "X-Forwarded-For": "203.0.113.10"}
    assert server.request("GET", "/ip", other)[0] == 200, "the proxy itself is not locked out"



def test_a_silent_tls_connection_stalls_nobody_and_is_closed_at_the_deadline(tmp_path,
                                                                            start_server):
    """cheroot did the handshake in its accept thread: one socket that never sent
    a ClientHello held up every new connection for connection_timeout."""
    authority, cert, key = tls_files(tmp_path, "silent")
    server = start_server(server_config(tmp_path, server=(
        f"tls_certificate = {cert}\ntls_private_key = {key}\n"
        "header_timeout = 3\nconnection_timeout = 30\n")))
    context = client_context(authority)
    silent = [socket.create_connection(server.addresses[0], timeout=WAIT) for _ in range(4)]
    try:
        started = time.monotonic()
        for _ in range(10):
            connection = http.client.HTTPSConnection(*server.addresses[0], timeout=2,
                                                     context=context)
            connection.request("GET", "/ip", headers=ALICE)
            assert connection.getresponse().read() == b"127.0.0.1\n"
            connection.close()
        assert time.monotonic() - started < 3, "no new connection waited for the silent ones"
        silent[0].settimeout(WAIT)
        assert silent[0].recv(100) == b"", "closed"
        assert 2.5 < time.monotonic() - started < 4.5, "at the header deadline"
    finally:
        for sock in silent:
            sock.close()



def test_tls_clients_trickling_their_head_hold_no_thread(tmp_path, start_server):
    """After the handshake a head arrives encrypted: the kernel's buffer cannot
    show where it ends.  Twelve clients sending one byte per TLS record held
    both worker threads until connection_timeout; now the gate decrypts what
    has arrived and hands the connection on only once its head is whole."""
    authority, cert, key = tls_files(tmp_path, "trickle")
    server = start_server(server_config(tmp_path, server=(
        f"tls_certificate = {cert}\ntls_private_key = {key}\nthreads = 2\n"
        "header_timeout = 3\nconnection_timeout = 30\n"
        "max_connections_per_client = 100\n")))
    context = client_context(authority)
    head = b"GET /ip HTTP/1.1\r\nHost: x\r\n" + b"X-Padding: p\r\n" * 20
    trickling = [context.wrap_socket(socket.create_connection(server.addresses[0],
                                                              timeout=WAIT),
                                     server_hostname="127.0.0.1") for _ in range(12)]
    started = time.monotonic()
    stop = threading.Event()
    sender = start_trickling(trickling, head, 0.1, stop)  # never the line ending it
    try:
        time.sleep(0.5)  # every trickling client has sent part of its head
        for _ in range(10):
            assert https_get(server.addresses[0], context, "/ip") == (200, b"127.0.0.1\n")
        assert time.monotonic() - started < 2.5, "nobody waited for the trickling clients"
        answer = b""
        trickling[0].settimeout(WAIT)
        try:
            while data := trickling[0].recv(4096):
                answer += data
        except (OSError, ssl.SSLError):
            pass
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert 2.5 < time.monotonic() - started < 4.5, "closed at the header deadline"
    finally:
        stop.set()
        sender.join(timeout=WAIT)
        for sock in trickling:
            sock.close()


def test_pipelined_requests_over_tls_are_all_answered(tmp_path, start_server):
    """The gate moves decrypted bytes into cheroot's buffer: requests sent
    together reach the app one by one, none lost and none waiting."""
    authority, cert, key = tls_files(tmp_path, "pipelined")
    server = start_server(server_config(tmp_path, listen="127.0.0.1:0", server=(
        f"tls_certificate = {cert}\ntls_private_key = {key}\n")))
    request = f"GET /ip HTTP/1.1\r\nHost: x\r\nAuthorization: {ALICE['Authorization']}\r\n\r\n"
    last = "GET /ip HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with client_context(authority).wrap_socket(
            socket.create_connection(server.addresses[0], timeout=WAIT),
            server_hostname="127.0.0.1") as sock:
        sock.sendall((request * 10 + last).encode())
        received = b""
        while data := sock.recv(65536):
            received += data
    assert received.count(b"HTTP/1.1 200 OK") == 10 and received.count(b"HTTP/1.1 401 ") == 1


def test_tls_clients_that_leave_mid_head_kill_no_worker_thread(tmp_path, start_server):
    """The 400 to a TLS client that sent part of a head and closed raised
    (SSLZeroReturnError), and so did cheroot's 500 after it, out of the worker
    thread: six such clients left a server with two threads answering nobody."""
    authority, cert, key = tls_files(tmp_path, "leaving")
    server = start_server(server_config(tmp_path, listen="127.0.0.1:0", server=(
        f"tls_certificate = {cert}\ntls_private_key = {key}\nthreads = 2\nworkers = 1\n")))
    context = client_context(authority)
    for _ in range(6):
        with context.wrap_socket(socket.create_connection(server.addresses[0], timeout=WAIT),
                                 server_hostname="127.0.0.1") as sock:
            sock.sendall(b"GET /ip HTTP/1.1\r\n")
    for _ in range(4):
        assert https_get(server.addresses[0], context, "/ip") == (200, b"127.0.0.1\n")
    assert "Traceback" not in server.stderr()
