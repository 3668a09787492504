"""Request framing attacks over a raw socket: smuggling, ambiguous lengths, bad bodies.

Only a real server shows these: the answers on one connection, whether it is
closed, and what the server printed.
"""
from __future__ import annotations

import re
import socket

import pytest

from helpers import WAIT, basic, server_config

AUTH = f"Authorization: {basic('alice', 'wonderland')}\r\n"


@pytest.fixture
def server(tmp_path, start_server):
    return start_server(server_config(tmp_path, listen="127.0.0.1:0",
                                      server="max_body_size = 64\n"))


def exchange(server, raw: bytes) -> tuple[list[int], bytes, bool]:
    """Send ``raw`` on one connection; (statuses, everything read, closed by the server)."""
    with socket.create_connection(server.addresses[0], timeout=WAIT) as conn:
        conn.sendall(raw)
        conn.settimeout(1.0)  # how long a further answer may take to start
        received, closed = b"", False
        while True:
            try:
                data = conn.recv(65536)
            except TimeoutError:
                break
            if not data:
                closed = True
                break
            received += data
    statuses = [int(code) for code in re.findall(rb"(?m)^HTTP/1\.1 (\d{3}) ", received)]
    return statuses, received, closed


def chunked(body: bytes) -> bytes:
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


def test_a_chunked_body_the_app_ignores_is_never_a_second_request(server):
    smuggled = b"GET /ip HTTP/1.1\r\nHost: x\r\n" + AUTH.encode() + b"\r\n"
    raw = (b"POST /get/ip HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           + smuggled)
    statuses, received, closed = exchange(server, raw)
    assert statuses == [400] and closed, received
    assert b"127.0.0.1\n" not in received


def test_a_wellformed_chunked_body_is_drained_and_the_next_request_answered(server):
    first = (b"POST /get/ip HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
             + AUTH.encode() + b"\r\n" + chunked(b"GET /ip HTTP/1.1\r\n\r\n"))
    second = b"GET /ip HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + AUTH.encode() + b"\r\n"
    statuses, received, _ = exchange(server, first + second)
    assert statuses == [405, 200], received
    assert received.endswith(b"127.0.0.1\n")


def test_a_chunked_set_body_reaches_the_app(server):
    raw = (b"POST /set HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
           b"Connection: close\r\n" + AUTH.encode() + b"\r\n" + chunked(b"ignored"))
    statuses, received, _ = exchange(server, raw)
    assert statuses == [200] and b'"status": "saved"' in received


def test_content_length_with_transfer_encoding_is_refused_and_closed(server):
    raw = (b"POST /set HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
           b"Transfer-Encoding: chunked\r\n" + AUTH.encode() + b"\r\n" + chunked(b"hello"))
    statuses, received, closed = exchange(server, raw)
    assert statuses == [400] and closed, received


@pytest.mark.parametrize("body, status", [
    (chunked(b"x" * 65), 413),
    (b"10\r\n" + b"x" * 40 + b"\r\n0\r\n\r\n", 400),
    (b"zz\r\nhello\r\n0\r\n\r\n", 400),
])
def test_bad_chunked_bodies_are_refused_without_a_traceback(server, body, status):
    raw = (b"POST /set HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
           + AUTH.encode() + b"\r\n" + body)
    statuses, received, closed = exchange(server, raw)
    assert statuses == [status] and closed, received
    assert "Traceback" not in server.stderr()


def test_a_head_ended_by_bare_newlines_is_refused_at_once(server):
    raw = b"GET /ip HTTP/1.1\nHost: x\n" + AUTH.replace("\r\n", "\n").encode() + b"\n"
    statuses, received, closed = exchange(server, raw)
    assert statuses == [400] and closed, received


@pytest.mark.parametrize("framing", [
    b"Content-Length: -5\r\n", b"Content-Length: +5\r\n", b"Content-Length: 5, 5\r\n",
    b"Content-Length: 0x5\r\n"])
def test_a_content_length_that_is_not_digits_is_refused_and_closed(server, framing):
    smuggled = b"GET /ip HTTP/1.1\r\nHost: x\r\n" + AUTH.encode() + b"\r\n"
    raw = b"POST /get/ip HTTP/1.1\r\nHost: x\r\n" + framing + b"\r\n" + smuggled
    statuses, received, closed = exchange(server, raw)
    assert statuses == [400] and closed, received
    assert b"127.0.0.1" not in received


def test_transfer_encoding_in_http_1_0_is_refused_and_closed(server):
    raw = (b"POST /set HTTP/1.0\r\nHost: x\r\nConnection: Keep-Alive\r\n"
           b"Transfer-Encoding: chunked\r\n" + AUTH.encode() + b"\r\n" + chunked(b"hello"))
    statuses, received, closed = exchange(server, raw)
    assert statuses == [400] and closed, received


def test_pipelined_requests_are_all_answered_in_order(server):
    """Requests sent in one write wait in cheroot's buffer, not the kernel's:
    the gate looks there too, so none of them waits for more data."""
    requests = b"".join(b"GET /get/ip.json?n=%d HTTP/1.1\r\nHost: x\r\n%s\r\n"
                        % (n, AUTH.encode()) for n in range(20))
    last = b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    _, received, closed = exchange(server, requests + last)
    # a JSON body ends without a newline: the next status line follows it directly
    statuses = [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", received)]
    assert statuses == [200] * 20 + [404] and closed
    assert received.count(b'{"Client_IP": "127.0.0.1"}') == 20
