"""A legitimate client while 300 connections trickle their request heads.

The attack: 300 connections each send one header byte every 2 s and never
finish their head.  Meanwhile a legitimate client makes requests on fresh
connections, one at a time; we report how many were answered and their p99,
for chipmunk-server (1 worker, 4 threads) and for nginx in the same run --
in plain HTTP, and over TLS, where every attacker completes its handshake
and then trickles its head a byte per TLS record.  Bounded: 200 legitimate
requests, 2 s each at most, and the attack stops when they are done.
"""
from __future__ import annotations

import http.client
import shutil
import signal
import socket
import ssl
import statistics
import tempfile
import threading
import time
from pathlib import Path

from chipmunk.server.passwords import hash_password

from .harness import free_port
from .server_bench import (
    AUTHORIZATION,
    NGINX,
    PASSWORD,
    self_signed,
    start_chipmunk,
    start_nginx,
    stop,
)

ATTACKERS, LEGITIMATE, BYTE_EVERY = 300, 200, 2.0
HEAD = b"GET /get/ip HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 400 + b"\r\n"


def unverified() -> ssl.SSLContext:
    """The benchmark's self-signed certificate is not checked."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return context


def attack(port: int, stop_attack: threading.Event, tls: bool) -> None:
    """Open the attackers (bound to 127.0.0.2), then trickle a byte each per round."""
    sockets = []
    for _ in range(ATTACKERS):
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=2,
                                            source_address=("127.0.0.2", 0))
            sockets.append(unverified().wrap_socket(sock) if tls else sock)
        except OSError:
            pass
    position = 0
    while not stop_attack.is_set() and position < len(HEAD):
        for sock in sockets:
            try:
                sock.send(HEAD[position:position + 1])
            except OSError:
                pass
        position += 1
        stop_attack.wait(BYTE_EVERY)
    for sock in sockets:
        sock.close()


def legitimate(port: int, tls: bool) -> tuple[int, list[float]]:
    answered, latencies = 0, []
    for _ in range(LEGITIMATE):
        started = time.perf_counter()
        try:
            conn = (http.client.HTTPSConnection("127.0.0.1", port, timeout=2,
                                                context=unverified()) if tls else
                    http.client.HTTPConnection("127.0.0.1", port, timeout=2))
            conn.request("GET", "/get/ip", headers={"Authorization": AUTHORIZATION})
            response = conn.getresponse()
            response.read()
            answered += response.status == 200
            conn.close()
        except OSError:
            pass
        latencies.append(time.perf_counter() - started)
    return answered, latencies


def under_attack(port: int, tls: bool = False) -> tuple[int, float]:
    stop_attack = threading.Event()
    attacker = threading.Thread(target=attack, args=(port, stop_attack, tls))
    attacker.start()
    time.sleep(BYTE_EVERY + 1)  # every attacker connected and trickling
    try:
        answered, latencies = legitimate(port, tls)
    finally:
        stop_attack.set()
        attacker.join(30)
    p99 = statistics.quantiles(latencies, n=100)[98] * 1000
    return answered, p99


def main() -> int:
    rows = {}
    with tempfile.TemporaryDirectory(prefix="chipmunk-slowloris-") as temp:
        directory = Path(temp)
        hashed = hash_password(PASSWORD)
        cert, key = self_signed(directory)
        tls_files = f"tls_certificate = {cert}\ntls_private_key = {key}\n"
        for name, extra, tls in (
                ("chipmunk, 1 worker", "", False),
                ("chipmunk, no per-address cap", "max_connections_per_client = 0\n", False),
                ("chipmunk over TLS, 1 worker", tls_files, True)):
            port = free_port()
            server, notify = start_chipmunk(directory, port, hashed, 1, threads=4, extra=extra)
            try:
                rows[name] = under_attack(port, tls)
            finally:
                stop(server)
                notify.close()
        if shutil.which(NGINX):
            for name, tls in (("nginx (1 worker)", False), ("nginx over TLS (1 worker)", True)):
                port = free_port()
                nginx = start_nginx(directory, port, 1, False, (cert, key) if tls else None)
                try:
                    rows[name] = under_attack(port, tls)
                finally:
                    stop(nginx, signal.SIGQUIT)
    print(f"\n== slowloris: {ATTACKERS} connections trickling a byte every {BYTE_EVERY:g}s; "
          f"{LEGITIMATE} legitimate requests (goal: >= 99% answered, p99 < 100 ms)")
    for name, (answered, p99) in rows.items():
        print(f"{name}: {answered}/{LEGITIMATE} answered, p99 {p99:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
