"""At most ``max_connections_per_client`` open connections per client, per process.

A client is its network as the lockout counts it (one IPv4 address, an
IPv6 /64 by default): one IPv6 host usually holds a whole /64 and could
open its connections from as many addresses.

A trusted proxy is not one client: behind nginx every connection comes from
nginx, and capping it as one turned 100 concurrent users into hundreds of
502s.  Its connections are not capped here at all; the proxy's own limits
(nginx's ``limit_conn``) see the real clients, and the gate's deadlines
still bound what each connection may hold.

A connection counts until cheroot closes it, which lags behind the client's
own close under load; so at the limit, connections whose peer already hung
up (``POLLRDHUP``, asked without reading) are dropped from the count first.
"""
from __future__ import annotations

import ipaddress
import select
import threading
from collections.abc import Iterable
from typing import Any

from .forwarded import Network, normalize


class ClientConnections:
    def __init__(self, limit: int, trusted_proxies: Iterable[Network] = (),
                 ipv4_prefix: int = 32, ipv6_prefix: int = 64) -> None:
        """``limit`` 0: no limit."""
        self.limit = limit
        self.trusted_proxies = tuple(trusted_proxies)
        self.prefixes = {4: ipv4_prefix, 6: ipv6_prefix}
        self._open: dict[str, dict[int, Any]] = {}
        self._lock = threading.Lock()

    def client_of(self, peer: str | None) -> tuple[str, bool] | None:
        """What ``peer``'s connections are counted under, and whether they are
        capped (not for a trusted proxy); None: not counted (no address: a
        UNIX socket)."""
        if not peer:
            return None
        try:
            address = normalize(peer)
        except ValueError:
            return peer, True
        if any(address.version == net.version and address in net
               for net in self.trusted_proxies):
            return f"proxy {address}", False
        prefix = self.prefixes[address.version]
        return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False)), True

    def admit(self, conn: Any) -> bool:
        counted = self.client_of(getattr(conn, "remote_addr", None))
        if counted is None:
            return True
        client, capped = counted
        with self._lock:
            known = self._open.setdefault(client, {})
            if id(conn) in known:
                return True
            if capped and self.limit and len(known) >= self.limit:
                for key in [key for key, other in known.items() if _hung_up(other)]:
                    del known[key]
                if len(known) >= self.limit:
                    return False
            known[id(conn)] = conn
            return True

    def open_count(self) -> int:
        """Connections admitted and not yet closed (for the metrics)."""
        with self._lock:
            return sum(len(known) for known in self._open.values())

    def release(self, conn: Any) -> None:
        counted = self.client_of(getattr(conn, "remote_addr", None))
        if counted is None:
            return
        client = counted[0]
        with self._lock:
            known = self._open.get(client)
            if known is not None:
                known.pop(id(conn), None)
                if not known:
                    del self._open[client]


def _hung_up(conn: Any) -> bool:
    poller = select.poll()
    try:
        poller.register(conn.socket.fileno(), select.POLLRDHUP)
    except (OSError, ValueError):
        return True  # already closed
    return any(events & (select.POLLRDHUP | select.POLLHUP | select.POLLERR | select.POLLNVAL)
               for _, events in poller.poll(0))
