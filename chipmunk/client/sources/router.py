"""The router, asked for its WAN address: UPnP IGD and NAT-PMP.

UPnP goes through miniupnpc (Debian's python3-miniupnpc): SSDP finds the
gateway device, ``GetExternalIPAddress`` asks it.  SSDP's search takes about
a second whatever ``discoverdelay`` says (measured with Debian's miniupnpd),
so a new process asks UPnP last; the device found is kept for the next
question of the same process (the daemon), where it is cheap.

NAT-PMP (RFC 6886) is written here: it is one 2-byte UDP question to the
default gateway's port 5351 and a 12-byte answer, and no library in Debian
speaks it from Python.  The question is repeated after 250 ms, 500 ms, …
as the RFC says, within the time given.
"""
from __future__ import annotations

import ipaddress
import socket
import struct
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from . import IPAddress, Source, SourceFailed
from .spec import COSTS, SourceSpec

if TYPE_CHECKING:
    from ..settings import ClientSettings

ROUTES = Path("/proc/net/route")
NATPMP_PORT = 5351
NATPMP_RESULTS = {1: "unsupported version", 2: "not authorized (NAT-PMP is off)",
                  3: "network failure (the router has no WAN address)",
                  4: "out of resources", 5: "unsupported opcode"}
#: SSDP's wait for devices to answer, at most
UPNP_DISCOVERY_DELAY = 0.5


def default_gateway(routes: Path = ROUTES) -> ipaddress.IPv4Address:
    """The IPv4 default route's gateway, read from the kernel's route table."""
    try:
        lines = routes.read_text().splitlines()[1:]
    except OSError as error:
        raise SourceFailed(f"cannot read {routes}: {error.strerror}") from None
    for line in lines:
        fields = line.split()
        if len(fields) >= 3 and fields[1] == "00000000" and fields[2] != "00000000":
            return ipaddress.IPv4Address(struct.pack("<I", int(fields[2], 16)))
    raise SourceFailed("no IPv4 default route through a gateway")


class NATPMPSource(Source):
    def __init__(self, spec: SourceSpec, settings: ClientSettings) -> None:
        super().__init__(spec)

    def ask(self, timeout: float) -> IPAddress:
        gateway = str(default_gateway())
        deadline = time.monotonic() + timeout
        wait = 0.25
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect((gateway, NATPMP_PORT))
            while (left := deadline - time.monotonic()) > 0:
                sock.send(b"\x00\x00")
                sock.settimeout(min(wait, left))
                try:
                    reply = sock.recv(64)
                except TimeoutError:
                    wait *= 2
                    continue
                except OSError as error:
                    raise SourceFailed(f"the router {gateway} refused NAT-PMP "
                                       f"({error.strerror})") from None
                return self._address(reply, gateway)
        raise SourceFailed(f"no NAT-PMP answer from the router {gateway} within "
                           f"{timeout:.3g}s")

    def _address(self, reply: bytes, gateway: str) -> IPAddress:
        if len(reply) < 12 or reply[0] != 0 or reply[1] != 128:
            raise SourceFailed(f"the router {gateway} sent no NAT-PMP answer")
        result = struct.unpack("!H", reply[2:4])[0]
        if result:
            raise SourceFailed(f"the router {gateway} answered NAT-PMP result {result}: "
                               f"{NATPMP_RESULTS.get(result, 'unknown')}")
        return self.parsed(str(ipaddress.IPv4Address(reply[8:12])), "the router's answer")


class UPnPSource(Source):
    def __init__(self, spec: SourceSpec, settings: ClientSettings) -> None:
        super().__init__(spec)
        self._device = None
        self._lock = threading.Lock()

    @property
    def cost(self) -> int:
        """Cheap once the router is known (a LAN round trip), else SSDP's wait."""
        return COSTS["natpmp"] if self._device is not None else self.spec.cost

    def ask(self, timeout: float) -> IPAddress:
        if not self._lock.acquire(blocking=False):
            raise SourceFailed("the router has not answered the previous question yet")
        try:
            device = self._device or self._discover(timeout)
            try:
                external = device.externalipaddress()
            except Exception as error:  # miniupnpc raises Exception with the reason
                self._device = None
                raise SourceFailed(f"the router did not say its external address: "
                                   f"{error}") from None
            self._device = device
        finally:
            self._lock.release()
        if not external:
            raise SourceFailed("the router reports no external address (it has none, or "
                               "it keeps a reserved one to itself)")
        return self.parsed(external, "the router's answer")

    @staticmethod
    def _discover(timeout: float):
        import miniupnpc  # type: ignore[import-not-found]  # no stubs anywhere
        device = miniupnpc.UPnP()
        device.discoverdelay = int(min(UPNP_DISCOVERY_DELAY, timeout / 2) * 1000)
        if not device.discover():
            raise SourceFailed("no UPnP device answered on the LAN (is UPnP on in the "
                               "router?)")
        try:
            device.selectigd()
        except Exception as error:
            raise SourceFailed(f"no UPnP internet gateway among the devices: {error}") \
                from None
        return device
