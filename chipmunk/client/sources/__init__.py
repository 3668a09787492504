"""Where the client learns its public address: the sources of ``[Discovery]``.

A :class:`Source` answers one question, "what is this machine's public
address of family 4 (or 6)?", within a time limit; it raises
:class:`SourceFailed` with the reason when it cannot (no answer, 403, an
HTML page, an address of the other family).  Whether the answer is believed
is decided elsewhere (:mod:`chipmunk.client.agreement`).  Each kind lives in
its own module and imports its library (requests, dnspython, miniupnpc)
only when a source of that kind is built.
"""
from __future__ import annotations

import importlib
import ipaddress
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from .spec import FAMILY_NAMES, SourceSpec

if TYPE_CHECKING:
    from ..settings import ClientSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: kind -> (module, class) that asks it
KINDS = {"chipmunk": ("web", "ChipmunkSource"), "http": ("web", "EchoSource"),
         "dns": ("whoami", "WhoamiSource"), "upnp": ("router", "UPnPSource"),
         "natpmp": ("router", "NATPMPSource"), "interface": ("local", "InterfaceSource"),
         "command": ("local", "CommandSource")}
class SourceFailed(Exception):
    """A source gave no usable answer; the message says why."""


class Source(ABC):
    """One source of one family, ready to be asked."""

    #: its answer is believed even when it is not a global address (a
    #: chipmunk server on a LAN reports a private one, as it always did)
    trusted_when_not_global = False

    def __init__(self, spec: SourceSpec) -> None:
        self.spec = spec

    @property
    def cost(self) -> int:
        """Its rank in the asking order: the cheapest are asked first."""
        return self.spec.cost

    @property
    def family_name(self) -> str:
        return FAMILY_NAMES[self.spec.family]

    @abstractmethod
    def ask(self, timeout: float) -> IPAddress:
        """This machine's public address as the source sees it."""

    def close(self) -> None:  # noqa: B027 -- most sources hold nothing
        """Release what the source holds (a session, a socket)."""

    def parsed(self, text: str, what: str) -> IPAddress:
        """``text`` as an address of the family asked; SourceFailed otherwise."""
        try:
            address = ipaddress.ip_address(text.strip())
        except ValueError:
            shown = " ".join(text.split())[:80]
            raise SourceFailed(f"{what} is no address: {shown!r}") from None
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address.version != self.spec.family:
            raise SourceFailed(f"answered {address}, an {FAMILY_NAMES[address.version]} "
                               f"address; {self.family_name} was asked")
        return address


def build_source(spec: SourceSpec, settings: ClientSettings) -> Source:
    module_name, class_name = KINDS[spec.kind]
    module = importlib.import_module(f"{__name__}.{module_name}")
    source: Source = getattr(module, class_name)(spec, settings)
    return source
