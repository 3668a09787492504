"""The kernel's network events, for a check as soon as the address may have changed.

An rtnetlink socket subscribed to address, route and link events tells the
daemon the moment a global address comes or goes, the default route
changes or a link comes up -- after a DSL reconnect, a DHCP renewal or an
IPv6 prefix change -- instead of half an interval later.  Behind NAT the
public address can change without any local event; the interval covers that.

Relevant (:meth:`NetworkWatch.relevant_events`):

- a global-scope address added or removed, unless it is temporary (RFC 4941
  privacy addresses come and go daily), tentative (duplicate detection not
  done: its final event follows), deprecated or failed duplicate detection
  -- the rules ``ipv6_source = interface:`` uses;
- a default route (IPv4 or IPv6, main table) added or removed;
- a link that comes up (IFF_RUNNING set where it was not).

Written on the standard library's ``socket.AF_NETLINK`` rather than with
pyroute2: three fixed headers (ifaddrmsg, rtmsg, ifinfomsg) and two
attributes are all it reads, and pyroute2 reworked its core between
Debian 12's 0.7 and PyPI's 0.9.  A message it cannot parse is skipped.
"""
from __future__ import annotations

import errno
import ipaddress
import logging
import select
import socket
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass

from .local_ipv6 import NOT_PUBLISHED  # the same addresses never count

log = logging.getLogger(__name__)

# rtnetlink groups and message types (linux/rtnetlink.h)
RTMGRP_LINK, RTMGRP_IPV4_IFADDR, RTMGRP_IPV4_ROUTE = 0x1, 0x10, 0x40
RTMGRP_IPV6_IFADDR, RTMGRP_IPV6_ROUTE = 0x100, 0x400
GROUPS = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_IFADDR \
    | RTMGRP_IPV6_ROUTE
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_NEWADDR, RTM_DELADDR = 16, 17, 18, 20, 21
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
DUMP_SEQUENCE, DUMP_TIMEOUT = 1, 2.0
RTM_NEWROUTE, RTM_DELROUTE = 24, 25
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLMSG_HEADER = struct.Struct("=IHHII")
IFADDRMSG = struct.Struct("=BBBBI")       # family, prefixlen, flags, scope, index
RTMSG = struct.Struct("=BBBBBBBBI")       # family, dst_len, src_len, tos, table,
#                                           protocol, scope, type, flags
IFINFOMSG = struct.Struct("=BxHiII")      # family, type, index, flags, change
RTA_HEADER = struct.Struct("=HH")
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS = 1, 2, 8
RTA_TABLE = 15
RT_TABLE_MAIN = 254
RTN_UNICAST = 1
RT_SCOPE_UNIVERSE = 0
IFF_RUNNING = 0x40
RECEIVE_BUFFER = 1 << 20


def _align(length: int) -> int:
    return (length + 3) & ~3


def attributes(data: bytes, offset: int) -> dict[int, bytes]:
    """The rtattr list of a message from ``offset`` (type -> payload)."""
    found: dict[int, bytes] = {}
    while offset + RTA_HEADER.size <= len(data):
        length, kind = RTA_HEADER.unpack_from(data, offset)
        if length < RTA_HEADER.size:
            break
        found[kind & 0x7FFF] = data[offset + RTA_HEADER.size:offset + length]
        offset += _align(length)
    return found


def messages(datagram: bytes) -> Iterable[tuple[int, bytes]]:
    """(type, the message without its netlink header) for each message."""
    offset = 0
    while offset + NLMSG_HEADER.size <= len(datagram):
        length, kind, _flags, _seq, _pid = NLMSG_HEADER.unpack_from(datagram, offset)
        if length < NLMSG_HEADER.size or offset + length > len(datagram):
            break
        yield kind, datagram[offset + NLMSG_HEADER.size:offset + length]
        offset += _align(length)


@dataclass
class NetworkWatch:
    """An rtnetlink subscription; ``interfaces`` limits it (empty: all)."""

    interfaces: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC
                                  | socket.SOCK_NONBLOCK, socket.NETLINK_ROUTE)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        self.sock.bind((0, GROUPS))
        #: interface index -> running, for "came up"
        self._running: dict[int, bool] = {}
        self._learn_links()

    def _learn_links(self) -> None:
        """Ask for every link once, so that the first "came up" is known as one."""
        request = NLMSG_HEADER.pack(NLMSG_HEADER.size + 16, RTM_GETLINK,
                                    NLM_F_REQUEST | NLM_F_DUMP, DUMP_SEQUENCE, 0)
        self.sock.send(request + struct.pack("=BxHiII", socket.AF_UNSPEC, 0, 0, 0, 0))
        deadline = time.monotonic() + DUMP_TIMEOUT
        while (remaining := deadline - time.monotonic()) > 0:
            if not select.select([self.sock], [], [], remaining)[0]:
                break
            try:
                datagram = self.sock.recv(65536)
            except BlockingIOError:
                continue
            for kind, body in messages(datagram):
                if kind in (NLMSG_DONE, NLMSG_ERROR):
                    return
                if kind == RTM_NEWLINK:
                    self._link(kind, body)  # learns the state, reports nothing new
        log.warning("the kernel did not list the network links within %gs", DUMP_TIMEOUT)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def relevant_events(self) -> list[str]:
        """Read every pending message; what in them may change the address."""
        found: list[str] = []
        while True:
            try:
                datagram = self.sock.recv(65536)
            except BlockingIOError:
                return found
            except OSError as error:
                if error.errno != errno.ENOBUFS:
                    raise
                # the kernel dropped events (a storm): something happened
                found.append("many network events (some were dropped)")
                continue
            for kind, body in messages(datagram):
                try:
                    event = self._describe(kind, body)
                except (struct.error, ValueError):
                    continue
                if event is not None:
                    found.append(event)

    def _interface(self, index: int) -> str:
        try:
            return socket.if_indextoname(index)
        except OSError:
            return f"#{index}"

    def _wanted(self, index: int) -> bool:
        return not self.interfaces or self._interface(index) in self.interfaces

    def _describe(self, kind: int, body: bytes) -> str | None:
        if kind in (RTM_NEWADDR, RTM_DELADDR):
            return self._address(kind, body)
        if kind in (RTM_NEWROUTE, RTM_DELROUTE):
            return self._route(kind, body)
        if kind in (RTM_NEWLINK, RTM_DELLINK):
            return self._link(kind, body)
        return None

    def _address(self, kind: int, body: bytes) -> str | None:
        family, _prefix, flags, scope, index = IFADDRMSG.unpack_from(body)
        attrs = attributes(body, IFADDRMSG.size)
        if IFA_FLAGS in attrs:
            flags = struct.unpack("=I", attrs[IFA_FLAGS][:4])[0]
        raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
        if scope != RT_SCOPE_UNIVERSE or flags & NOT_PUBLISHED or raw is None \
                or not self._wanted(index):
            return None
        address = ipaddress.ip_address(raw)
        verb = "added" if kind == RTM_NEWADDR else "removed"
        return f"address {address} {verb} on {self._interface(index)}"

    def _route(self, kind: int, body: bytes) -> str | None:
        family, dst_len, _src, _tos, table, _proto, _scope, rtype, _flags = \
            RTMSG.unpack_from(body)
        attrs = attributes(body, RTMSG.size)
        if RTA_TABLE in attrs:
            table = struct.unpack("=I", attrs[RTA_TABLE][:4])[0]
        if dst_len != 0 or table != RT_TABLE_MAIN or rtype != RTN_UNICAST:
            return None
        version = "IPv6" if family == socket.AF_INET6 else "IPv4"
        return f"{version} default route {'added' if kind == RTM_NEWROUTE else 'removed'}"

    def _link(self, kind: int, body: bytes) -> str | None:
        _family, _type, index, flags, _change = IFINFOMSG.unpack_from(body)
        if kind == RTM_DELLINK:
            self._running.pop(index, None)
            return None
        running = bool(flags & IFF_RUNNING)
        was = self._running.get(index)
        self._running[index] = running
        if running and was is False and self._wanted(index):
            return f"link {self._interface(index)} came up"
        return None
