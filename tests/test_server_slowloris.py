"""Slow clients against a real server: trickled heads and bodies, idle sockets, many sockets.

Before the request gate, eight sockets trickling one header byte at a time
held every worker thread (threads x workers) and legitimate clients got no
answer.  Every loop here is bounded in count and time.
"""
from __future__ import annotations

import http.client
import socket
import threading
import time

import pytest

from helpers import WAIT, basic, server_config, start_trickling

ALICE = {"Authorization": basic("alice", "wonderland")}
HEAD = b"GET /ip HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"p" * 200 + b"\r\n\r\n"


@pytest.fixture
def server(tmp_path, start_server):
    return start_server(server_config(tmp_path, listen="127.0.0.1:0", server=(
        "threads = 2\nheader_timeout = 3\nbody_timeout = 2\n"
        "max_connections_per_client = 100\n")))


def connect(server, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(server.addresses[0], timeout=WAIT,
                                    source_address=(source, 0))
    return sock


def closed_after(sock: socket.socket, limit: float) -> tuple[float, bytes]:
    """Seconds until the server closed ``sock`` (at most ``limit``), and what it sent."""
    started = time.monotonic()
    sock.settimeout(limit)
    received = b""
    try:
        while data := sock.recv(4096):
            received += data
    except TimeoutError:
        return limit, received
    return time.monotonic() - started, received


def test_trickling_heads_hold_no_thread_and_are_closed_at_the_deadline(server):
    attackers = [connect(server) for _ in range(40)]  # 20x the threads
    stop = threading.Event()
    trickler = start_trickling(attackers, HEAD[:-2], 0.2, stop)  # never the last CRLF
    try:
        time.sleep(0.5)  # every attacker has sent bytes and waits in the gate
        answered = 0
        for _ in range(20):
            conn = http.client.HTTPConnection(*server.addresses[0], timeout=2)
            conn.request("GET", "/ip", headers=ALICE)
            response = conn.getresponse()
            answered += response.status == 200 and response.read() == b"127.0.0.1\n"
            conn.close()
        assert answered == 20
        waited, received = closed_after(attackers[0], WAIT)
        assert received.startswith(b"HTTP/1.1 408 ")
        assert waited < 3.5, "closed at the header deadline, not later"
    finally:
        stop.set()
        trickler.join(WAIT)
        for sock in attackers:
            sock.close()


def test_a_connection_that_sends_nothing_is_closed_at_the_header_deadline(server):
    with connect(server) as idle:
        waited, received = closed_after(idle, WAIT)
    assert received.startswith(b"HTTP/1.1 408 ") and 2.5 < waited < 4.0


def test_a_trickled_body_is_closed_at_the_body_deadline(server):
    with connect(server) as slow:
        slow.sendall(b"POST /set HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n"
                     + f"Authorization: {ALICE['Authorization']}\r\n\r\n".encode() + b"x")
        started = time.monotonic()
        for _ in range(10):  # at most 10 bytes, one every 0.3 s: never all 50
            try:
                slow.send(b"x")
            except OSError:
                break
            time.sleep(0.3)
            if time.monotonic() - started > 2.6:
                break
        waited, received = closed_after(slow, WAIT)
    assert received.startswith(b"HTTP/1.1 408 "), received
    assert time.monotonic() - started < 3.5


def test_a_whole_request_sent_in_pieces_in_time_is_answered(server):
    with connect(server) as patient:
        request = (b"GET /ip HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                   + f"Authorization: {ALICE['Authorization']}\r\n\r\n".encode())
        for piece in (request[:10], request[10:40], request[40:]):
            patient.sendall(piece)
            time.sleep(0.3)
        _, received = closed_after(patient, WAIT)
    assert received.startswith(b"HTTP/1.1 200 ") and received.endswith(b"127.0.0.1\n")


def test_one_address_may_hold_at_most_max_connections_per_client(tmp_path, start_server):
    server = start_server(server_config(tmp_path, listen="127.0.0.1:0",
                                        server="max_connections_per_client = 5\n"))
    held = [connect(server) for _ in range(5)]
    try:
        for sock in held:  # each accepted and waiting for its request
            sock.sendall(b"GET /ip HTTP/1.1\r\n")
        refused = connect(server)
        waited, received = closed_after(refused, 2)
        assert (waited < 2, received) == (True, b""), "the sixth is closed at once"
        other = http.client.HTTPConnection(*server.addresses[0], timeout=WAIT,
                                           source_address=("127.0.0.2", 0))
        other.request("GET", "/ip", headers=ALICE)
        assert other.getresponse().read() == b"127.0.0.2\n", "another address is served"
        other.close()
    finally:
        for sock in held:
            sock.close()


def test_a_head_sent_one_byte_per_segment_is_closed_early(server):
    """Each look copies all that is buffered: 64 looks, then 408, long before the deadline."""
    with connect(server) as fragmented:
        fragmented.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        started = time.monotonic()
        sent = 0
        for byte in HEAD[:400]:  # never the whole head
            try:
                fragmented.send(bytes([byte]))
            except OSError:
                break
            sent += 1
            time.sleep(0.003)
        waited, received = closed_after(fragmented, WAIT)
    assert received.startswith(b"HTTP/1.1 408 "), received
    assert sent < 400 and time.monotonic() - started < 2.5, "closed before the header deadline"
