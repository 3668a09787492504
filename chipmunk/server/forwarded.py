"""Which address is the client's: the peer, or what a trusted proxy says.

Proxy headers are believed only when the direct peer is a trusted proxy, and
then read right to left: each hop appends the address it saw, so the
rightmost untrusted entry is the first one no trusted party could have
forged.  (Taking the leftmost entry, as many what's-my-IP services do, lets a
client claim any address.)  A malformed header is ignored as a whole and the
peer address is used.

RFC 7239 parsing is written here because neither the standard library nor a
Debian-packaged library parses ``Forwarded``; the grammar we need (elements,
pairs, quoted strings, bracketed IPv6 with optional port) is small.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_TOKEN_PAIR = re.compile(r'\s*([A-Za-z0-9!#$%&\'*+.^_`|~-]+)\s*=\s*'
                         r'("(?:[^"\\]|\\.)*"|[A-Za-z0-9!#$%&\'*+.^_`|~:\[\]-]*)\s*')


def normalize(address: str) -> IPAddress:
    """Parse an address; IPv4-mapped IPv6 becomes IPv4, zone ids are dropped."""
    parsed = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed


def _node_address(node: str) -> IPAddress:
    """An address from a Forwarded ``for=`` node or an X-Forwarded-For entry.

    Accepts ``192.0.2.1``, ``192.0.2.1:4711``, ``2001:db8::1`` and
    ``[2001:db8::1]:4711``; raises ValueError otherwise (including the
    obfuscated identifiers ``unknown`` and ``_hidden`` of RFC 7239).
    """
    node = node.strip()
    if node.startswith("["):
        end = node.find("]")
        if end < 0 or (node[end + 1:] and not re.fullmatch(r":\d{1,5}", node[end + 1:])):
            raise ValueError(node)
        return normalize(node[1:end])
    if node.count(":") == 1:
        host, port = node.split(":")
        if not port.isdigit():
            raise ValueError(node)
        node = host
    return normalize(node)


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if quoted:
        raise ValueError("unterminated quoted string")
    parts.append("".join(current))
    return parts


def forwarded_chain(header: str) -> list[IPAddress]:
    """The ``for=`` addresses of an RFC 7239 Forwarded header, in order."""
    chain = []
    for element in _split_outside_quotes(header, ","):
        found = None
        for pair in _split_outside_quotes(element, ";"):
            match = _TOKEN_PAIR.fullmatch(pair)
            if not match:
                raise ValueError(f"bad Forwarded pair {pair!r}")
            name, value = match.group(1).lower(), match.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            if name == "for":
                if found is not None:
                    raise ValueError("two for= in one element")
                found = _node_address(value)
        if found is None:
            raise ValueError("Forwarded element without for=")
        chain.append(found)
    return chain


def x_forwarded_for_chain(header: str) -> list[IPAddress]:
    return [_node_address(entry) for entry in header.split(",")]


class RemoteAddressResolver:
    """Turns a WSGI environ into the client's public address."""

    def __init__(self, trusted_proxies: Iterable[Network] = ()) -> None:
        self.trusted_proxies = tuple(trusted_proxies)

    def is_trusted(self, address: IPAddress) -> bool:
        return any(address.version == net.version and address in net
                   for net in self.trusted_proxies)

    def resolve(self, environ: dict) -> IPAddress:
        peer = normalize(environ.get("REMOTE_ADDR", ""))
        if not self.trusted_proxies or not self.is_trusted(peer):
            return peer
        try:
            if environ.get("HTTP_FORWARDED"):
                chain = forwarded_chain(environ["HTTP_FORWARDED"])
            elif environ.get("HTTP_X_FORWARDED_FOR"):
                chain = x_forwarded_for_chain(environ["HTTP_X_FORWARDED_FOR"])
            else:
                return peer
        except ValueError:
            return peer
        for address in reversed(chain):
            if not self.is_trusted(address):
                return address
        return chain[0]
