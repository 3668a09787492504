"""Which addresses are public: the one rule both programs apply before an
address goes into DNS.

Only global unicast is public (Python's ``is_global``, which follows IANA's
special-purpose registries: private, loopback, link-local, reserved, shared
and the documentation ranges are all not global; multicast is no host's
address).  100.64.0.0/10 gets its own explanation because it means
carrier-grade NAT: the provider shares the router's address.
"""
from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
SHARED_ADDRESS_SPACE = ipaddress.IPv4Network("100.64.0.0/10")


def is_shared(address: IPAddress) -> bool:
    """In 100.64.0.0/10, the space carrier-grade NAT shares between customers."""
    return address.version == 4 and address in SHARED_ADDRESS_SPACE


def why_not_public(address: IPAddress) -> str | None:
    """Why ``address`` is no public address, or None when it is global unicast."""
    if address.is_global and not address.is_multicast:
        return None
    if is_shared(address):
        return ("is in 100.64.0.0/10, shared by carrier-grade NAT: the router's "
                "provider shares its address, and nobody outside reaches it there")
    if address.is_private:
        return "is a private address"
    return "is not a global unicast address"
