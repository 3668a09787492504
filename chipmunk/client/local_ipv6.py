"""This machine's own stable IPv6 address, read from the kernel.

``/proc/net/if_inet6`` lists every IPv6 address with its scope and flags.
We take only global-scope addresses that are not temporary (RFC 4941 privacy
addresses change daily and must not go into DNS), deprecated, tentative or
failed duplicate detection, and prefer a permanent (statically configured)
one.  Written here rather than taken from a library because no library in
Chipmunk's Debian dependencies reads address flags, and the format is six
whitespace-separated fields.
"""
from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

IF_INET6 = Path("/proc/net/if_inet6")
SCOPE_GLOBAL = 0x00
IFA_F_TEMPORARY = 0x01
IFA_F_DADFAILED = 0x08
IFA_F_DEPRECATED = 0x20
IFA_F_TENTATIVE = 0x40
IFA_F_PERMANENT = 0x80
#: an address with any of these flags is never published (netwatch ignores
#: its events for the same reason)
NOT_PUBLISHED = IFA_F_TEMPORARY | IFA_F_DADFAILED | IFA_F_DEPRECATED | IFA_F_TENTATIVE


@dataclass(frozen=True)
class InterfaceAddress:
    address: ipaddress.IPv6Address
    interface: str
    scope: int
    flags: int


def parse_if_inet6(text: str) -> list[InterfaceAddress]:
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 6:
            continue
        raw, _index, _prefix, scope, flags, name = fields
        address = ipaddress.IPv6Address(bytes.fromhex(raw))
        found.append(InterfaceAddress(address, name, int(scope, 16), int(flags, 16)))
    return found


def stable_ipv6(interface: str, source: Path = IF_INET6) -> ipaddress.IPv6Address:
    """The address to publish for ``interface``; LookupError says why there is none."""
    try:
        listed = parse_if_inet6(source.read_text())
    except OSError as error:
        raise LookupError(f"cannot read {source}: {error.strerror}") from None
    mine = [entry for entry in listed if entry.interface == interface]
    if not mine:
        raise LookupError(f"interface {interface} has no IPv6 address")
    usable = [entry for entry in mine if entry.scope == SCOPE_GLOBAL
              and not entry.flags & NOT_PUBLISHED]
    if not usable:
        raise LookupError(f"interface {interface} has no global, non-temporary, "
                          "non-deprecated IPv6 address")
    # permanent (static) first, then the lowest address, so the choice is stable
    chosen = min(usable, key=lambda e: (not e.flags & IFA_F_PERMANENT, e.address))
    reason = ("statically configured" if chosen.flags & IFA_F_PERMANENT
              else "autoconfigured, stable (not a temporary privacy address)")
    log.debug("IPv6 of %s: %s (%s; %d candidate(s), %d usable)", interface,
              chosen.address, reason, len(mine), len(usable))
    return chosen.address
