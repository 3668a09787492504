"""Sources on this machine: an interface's address, and a program's output.

``interface:NAME`` for IPv6 is the interface's stable global address (never
a temporary privacy address: :mod:`chipmunk.client.local_ipv6`); for IPv4
it is the interface's address as ``SIOCGIFADDR`` reports it (a PPPoE host
holds its public IPv4 address on ``ppp0``).  ``command:/path`` runs the
program without a shell; the first line it prints is the address.
"""
from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
import subprocess
from typing import TYPE_CHECKING

from ..local_ipv6 import stable_ipv6
from . import IPAddress, Source, SourceFailed
from .spec import SourceSpec

if TYPE_CHECKING:
    from ..settings import ClientSettings

SIOCGIFADDR = 0x8915


def interface_ipv4(name: str) -> ipaddress.IPv4Address:
    """The IPv4 address of interface ``name``; SourceFailed when it has none."""
    request = struct.pack("256s", name.encode("utf-8")[:15])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            answer = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, request)
        except OSError as error:
            reason = "no such interface" if error.errno == 19 else \
                "it has no IPv4 address" if error.errno == 99 else error.strerror
            raise SourceFailed(f"interface {name}: {reason}") from None
    return ipaddress.IPv4Address(answer[20:24])


class InterfaceSource(Source):
    def __init__(self, spec: SourceSpec, settings: ClientSettings) -> None:
        super().__init__(spec)

    def ask(self, timeout: float) -> IPAddress:
        if self.spec.family == 4:
            return interface_ipv4(self.spec.target)
        try:
            return stable_ipv6(self.spec.target)
        except LookupError as error:
            raise SourceFailed(str(error)) from None


class CommandSource(Source):
    def __init__(self, spec: SourceSpec, settings: ClientSettings) -> None:
        super().__init__(spec)

    def ask(self, timeout: float) -> IPAddress:
        try:
            done = subprocess.run([self.spec.target], capture_output=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL, text=True, errors="replace",
                                  env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                       "CHIPMUNK_FAMILY": f"ipv{self.spec.family}"})
        except subprocess.TimeoutExpired:
            raise SourceFailed(f"did not finish within {timeout:.3g}s") from None
        except OSError as error:
            raise SourceFailed(f"cannot run it: {error.strerror}") from None
        if done.returncode != 0:
            said = (done.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1]
            raise SourceFailed(f"exited with {done.returncode}: {said[:200]}")
        lines = done.stdout.strip().splitlines()
        return self.parsed(lines[0] if lines else "", "its output")
