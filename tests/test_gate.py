"""The request gate in-process: a socketpair per connection, a clock of the
test's own, and the gate's steps taken by hand (no thread, no sleep).

What only a real server shows (slowloris over TCP and TLS) stays in
test_server_slowloris; here, each rule of judging, framing and deadlines.
"""
from __future__ import annotations

import socket

import pytest

from chipmunk.server.gate import MAX_LOOKS, RequestGate
from inprocess import Clock

HEADER_TIMEOUT, BODY_TIMEOUT = 10.0, 20.0
GET = b"GET /ip HTTP/1.1\r\nHost: x\r\n\r\n"


class Conn:
    """What the gate needs of a connection: a socket, and a close()."""

    def __init__(self) -> None:
        self.socket, self.peer = socket.socketpair()
        self.held = b""
        self.closed = False

    def close(self) -> None:
        self.closed = True
        self.socket.close()


class Buffer:
    """The read buffer, as the test keeps it (hosting knows cheroot's)."""

    def held(self, conn: Conn) -> bytes:
        return conn.held

    def append(self, conn: Conn, data: bytes) -> bytes:
        conn.held += data
        return conn.held


class Gate:
    def __init__(self, max_body: int = 4096) -> None:
        self.clock = Clock()
        self.handed: list[Conn] = []
        self.gate = RequestGate(self.handed.append, 16384, max_body, HEADER_TIMEOUT,
                                BODY_TIMEOUT, Buffer(), clock=self.clock)
        self.conns: list[Conn] = []

    def connect(self, data: bytes = b"") -> Conn:
        conn = Conn()
        self.conns.append(conn)
        if data:
            conn.peer.sendall(data)
        self.gate.admit(conn)
        return conn

    def step(self) -> None:
        """One turn of the gate's loop, which returns at once: a wake-up is due."""
        self.gate._wake()
        self.gate._step()

    def send(self, conn: Conn, data: bytes) -> None:
        conn.peer.sendall(data)
        self.step()

    def close(self) -> None:
        self.gate.stop()
        for conn in self.conns:
            conn.peer.close()
            conn.socket.close()


@pytest.fixture
def gate():
    made = Gate()
    yield made
    made.close()


def answer(conn: Conn) -> bytes:
    conn.peer.settimeout(1)
    try:
        return conn.peer.recv(4096)
    except OSError:
        return b""


def test_a_whole_request_goes_to_a_worker_at_once(gate):
    conn = gate.connect(GET)
    assert gate.handed == [conn] and not gate.gate._incoming


def test_a_partial_head_waits_and_goes_on_once_whole(gate):
    conn = gate.connect(GET[:10])
    gate.step()
    assert gate.handed == [] and conn.socket.fileno() in gate.gate._waiting
    gate.send(conn, GET[10:20])
    assert gate.handed == []
    gate.send(conn, GET[20:])
    assert gate.handed == [conn] and not gate.gate._waiting


def test_a_head_not_whole_by_header_timeout_gets_408_and_is_closed(gate):
    conn = gate.connect(GET[:10])
    gate.step()
    gate.clock.now += HEADER_TIMEOUT - 1
    gate.step()
    assert not conn.closed, "not yet"
    gate.clock.now += 1
    gate.step()
    assert conn.closed and gate.handed == []
    assert answer(conn).startswith(b"HTTP/1.1 408 ")


def test_the_deadline_is_for_the_whole_head_not_per_byte(gate):
    conn = gate.connect(GET[:1])
    gate.step()
    for position in range(1, 9):  # a byte a second keeps nothing alive
        gate.clock.now += 1.25
        gate.send(conn, GET[position:position + 1])
    assert conn.closed and answer(conn).startswith(b"HTTP/1.1 408 ")


def test_the_body_deadline_starts_when_the_head_is_whole(gate):
    head = b"POST /set HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"
    conn = gate.connect(head[:5])
    gate.step()
    gate.clock.now += 5
    gate.send(conn, head[5:] + b"12345")
    gate.clock.now += HEADER_TIMEOUT  # past the head's deadline: the body has its own
    gate.step()
    assert not conn.closed and gate.handed == []
    gate.clock.now += BODY_TIMEOUT - HEADER_TIMEOUT + 0.1
    gate.step()
    assert conn.closed and answer(conn).startswith(b"HTTP/1.1 408 ")


@pytest.mark.parametrize("first, almost, rest", [
    # two bytes short of Content-Length
    (b"POST /set HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345", b"678", b"90"),
    # the last chunk, but not the empty line after the trailers
    (b"POST /set HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
     b"0\r\n", b"\r\n"),
])
def test_a_body_goes_on_once_whole_and_not_a_byte_before(gate, first, almost, rest):
    conn = gate.connect(first)
    gate.step()
    assert gate.handed == []
    gate.send(conn, almost)
    assert gate.handed == []
    gate.send(conn, rest)
    assert gate.handed == [conn]


@pytest.mark.parametrize("request_bytes", [
    b"POST /set HTTP/1.1\r\nContent-Length: 99999\r\n\r\n",  # over max_body: cheroot's 413
    b"POST /set HTTP/1.1\r\nContent-Length: -5\r\n\r\n",  # cheroot's 400
    b"GET /ip HTTP/1.1\nHost: x\n\n",  # bare LFs: cheroot's 400
    b"POST /set HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",  # bad chunk size
])
def test_what_cheroot_must_refuse_goes_to_it_at_once(gate, request_bytes):
    conn = gate.connect(request_bytes)
    assert gate.handed == [conn]


def test_a_request_in_too_many_pieces_is_closed(gate):
    conn = gate.connect(b"GET /")
    gate.step()
    for _ in range(MAX_LOOKS - 1):  # every piece is looked at with all before it
        gate.send(conn, b"a")
    assert not conn.closed
    gate.send(conn, b"a")
    assert conn.closed and gate.handed == []


def test_a_peer_that_left_goes_to_cheroot_to_be_closed(gate):
    conn = gate.connect()
    gate.step()
    assert gate.handed == []
    conn.peer.shutdown(socket.SHUT_WR)
    gate.step()
    assert gate.handed == [conn]


def test_a_peer_that_left_mid_head_waits_out_its_deadline(gate):
    """Its bytes are still buffered, so a peek cannot see the end behind them."""
    conn = gate.connect(GET[:5])
    gate.step()
    conn.peer.shutdown(socket.SHUT_WR)
    gate.step()
    assert gate.handed == [] and not conn.closed
    gate.clock.now += HEADER_TIMEOUT
    gate.step()
    assert conn.closed
