"""The per-client connection cap, in-process (through nginx: test_proxy_nginx)."""
from __future__ import annotations

import ipaddress
import socket

from chipmunk.server.connections import ClientConnections


class Conn:
    def __init__(self, remote_addr: str) -> None:
        self.remote_addr = remote_addr
        self.socket, self.peer = socket.socketpair()  # a live, not hung-up socket

    def close(self) -> None:
        self.socket.close()
        self.peer.close()


def test_an_ipv6_client_is_its_64_and_ipv4_its_address():
    cap = ClientConnections(2)
    conns = [Conn("2001:db8::1"), Conn("2001:db8::2"), Conn("2001:db8:0:1::1"),
             Conn("192.0.2.1"), Conn("::ffff:192.0.2.1"), Conn("192.0.2.2")]
    try:
        assert [cap.admit(conn) for conn in conns[:3]] == [True, True, True]
        assert not cap.admit(Conn("2001:db8::3")), "a third from the same /64"
        assert [cap.admit(conn) for conn in conns[3:]] == [True, True, True]
        assert not cap.admit(Conn("192.0.2.1")), "IPv4-mapped is the same address"
        cap.release(conns[0])
        assert cap.admit(Conn("2001:db8::4")), "released, room again"
    finally:
        for conn in conns:
            conn.close()


def test_a_trusted_proxy_is_not_capped_but_counted():
    cap = ClientConnections(2, [ipaddress.ip_network("127.0.0.0/8")])
    conns = [Conn("127.0.0.1") for _ in range(10)]
    try:
        assert all(cap.admit(conn) for conn in conns)
        assert cap.open_count() == 10
        assert cap.admit(Conn("192.0.2.1")) and cap.admit(Conn("192.0.2.1"))
        assert not cap.admit(Conn("192.0.2.1")), "others are capped as before"
    finally:
        for conn in conns:
            conn.close()


def test_connections_whose_peer_hung_up_make_room():
    cap = ClientConnections(1)
    gone = Conn("192.0.2.1")
    assert cap.admit(gone)
    gone.peer.close()
    fresh = Conn("192.0.2.1")
    try:
        assert cap.admit(fresh)
    finally:
        gone.close()
        fresh.close()
