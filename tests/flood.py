"""A flood of wrong passwords from many loopback addresses, and fresh logins beside it.

Shared by the flood test and ``make bench``.  Attack threads each send one
request per new connection (as a botnet does), from source addresses taken
in turn from a list, and record what each source got.  Bounded: the flood
runs until stopped or ``limit`` seconds, whichever is first.
"""
from __future__ import annotations

import base64
import http.client
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


#: <linux/in.h>: the port is chosen at connect(), for the whole 4-tuple
IP_BIND_ADDRESS_NO_PORT = 24


class SourcedConnection(http.client.HTTPConnection):
    """A connection from a given loopback address.  http.client binds the
    source port before it knows the destination, so at thousands of
    connections a second a tuple still in TIME_WAIT is picked now and then,
    and connect() stalls a second or more on a resent SYN; here the kernel
    picks the port at connect() time."""

    def __init__(self, host: str, port: int, source: str, timeout: float = 10) -> None:
        super().__init__(host, port, timeout=timeout)
        self.source = source

    def connect(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        sock.settimeout(self.timeout)
        try:
            sock.bind((self.source, 0))
            sock.connect((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.sock = sock


def flooding_sources(count: int = 200) -> list[str]:
    """127.0.1.0 ... : addresses of their own, apart from a test's others."""
    return [f"127.0.{1 + n // 250}.{n % 250}" for n in range(count)]


@dataclass
class FloodResult:
    sent: int = 0
    statuses: Counter = field(default_factory=Counter)
    #: source -> seconds from the flood's start to its first 429
    locked_after: dict[str, float] = field(default_factory=dict)


class Flood:
    def __init__(self, host: str, port: int, sources: list[str], user: str,
                 threads: int = 12, limit: float = 60.0) -> None:
        self.host, self.port, self.sources, self.user = host, port, sources, user
        self.limit = limit
        self.result = FloodResult()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._attack, args=(n, threads), daemon=True)
                         for n in range(threads)]
        self.started = 0.0

    def __enter__(self) -> Flood:
        self.started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _attack(self, number: int, stride: int) -> None:
        sent = number
        while not self._stop.is_set() and time.monotonic() - self.started < self.limit:
            source = self.sources[sent % len(self.sources)]
            sent += stride
            status = 0
            try:
                conn = SourcedConnection(self.host, self.port, source)
                conn.request("GET", "/ip", headers={
                    "Authorization": basic(self.user, f"guess{sent}")})
                status = conn.getresponse().status
                conn.close()
            except (OSError, http.client.HTTPException):
                pass  # counted as status 0: no answer
            with self._lock:
                self.result.sent += 1
                self.result.statuses[status] += 1
                if status == 429 and source not in self.result.locked_after:
                    self.result.locked_after[source] = time.monotonic() - self.started


def timed_login(host: str, port: int, source: str, user: str, password: str
                ) -> tuple[int, float]:
    """One login on a new connection: (status, seconds)."""
    started = time.monotonic()
    conn = SourcedConnection(host, port, source)
    try:
        conn.request("GET", "/ip", headers={"Authorization": basic(user, password)})
        return conn.getresponse().status, time.monotonic() - started
    except (OSError, http.client.HTTPException):
        return 0, time.monotonic() - started
    finally:
        conn.close()
