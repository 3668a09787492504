"""Which address is the client's: the peer, or what a trusted proxy says.

Proxy headers are believed only when the direct peer is a trusted proxy, and
only the one header the config names (``[Server] proxy_header``): nginx
(``proxy_add_x_forwarded_for``), HAProxy (``option forwardfor``) and Apache's
mod_proxy set ``X-Forwarded-For`` and pass a client's own ``Forwarded``
through untouched, so reading ``Forwarded`` first (or falling back from one
to the other) let any client behind such a proxy claim any address.

The chain is read right to left: each hop appends the address it saw, so the
rightmost entry not written by a trusted proxy is the first one no trusted
party could have forged, and reading stops there.  What lies left of it is
the client's own text and never matters, however malformed (Squid's
``unknown``, a half-quoted string).  An entry that cannot be parsed right of
that point was written by a trusted proxy: then nobody can tell the
client's address, and the request is refused rather than blamed on the
proxy's own address.

RFC 7239 parsing is written here because neither the standard library nor a
Debian-packaged library parses ``Forwarded``; the grammar we need (elements,
pairs, quoted strings, bracketed IPv6 with optional port) is small.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: the values of ``[Server] proxy_header``
PROXY_HEADERS = ("x-forwarded-for", "forwarded")
_TOKEN_PAIR = re.compile(r'\s*([A-Za-z0-9!#$%&\'*+.^_`|~-]+)\s*=\s*'
                         r'("(?:[^"\\]|\\.)*"|[A-Za-z0-9!#$%&\'*+.^_`|~:\[\]-]*)\s*')
_SCHEMES = ("http", "https")


def to_proxy_header(text: str) -> str:
    """``x-forwarded-for`` or ``forwarded`` (any case)."""
    name = text.strip().lower()
    if name not in PROXY_HEADERS:
        raise ValueError(f"{text!r}: expected one of {', '.join(PROXY_HEADERS)}")
    return name


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


def _elements_from_right(header: str) -> Iterator[str]:
    """The comma-separated elements of a Forwarded header, rightmost first.

    Scanned from the right, so that an unbalanced quote the client put on
    the left cannot swallow what the proxies appended after it.
    """
    end = len(header)
    quoted = False
    for position in range(len(header) - 1, -1, -1):
        char = header[position]
        if char == '"':
            backslashes = len(header[:position]) - len(header[:position].rstrip("\\"))
            if not (quoted and backslashes % 2):
                quoted = not quoted
        elif char == "," and not quoted:
            yield header[position + 1:end]
            end = position
    yield header[:end]


@dataclass(frozen=True)
class _Hop:
    address: IPAddress
    #: the scheme the hop says the request came in with (Forwarded's proto=)
    proto: str | None = None


def _forwarded_hop(element: str) -> _Hop:
    """The ``for=`` (and ``proto=``) of one Forwarded element."""
    found: IPAddress | None = None
    proto = None
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
        elif name == "proto" and value.lower() in _SCHEMES:
            proto = value.lower()
    if found is None:
        raise ValueError("Forwarded element without for=")
    return _Hop(found, proto)


def forwarded_hops(header: str) -> Iterator[_Hop]:
    """The hops of an RFC 7239 Forwarded header, rightmost first, parsed as
    they are reached (ValueError at the first that cannot be)."""
    for element in _elements_from_right(header):
        yield _forwarded_hop(element)


def x_forwarded_for_hops(header: str) -> Iterator[_Hop]:
    """The entries of X-Forwarded-For, rightmost first, parsed as reached."""
    for entry in reversed(header.split(",")):
        yield _Hop(_node_address(entry))


@dataclass(frozen=True)
class Origin:
    """Where a request came from, as far as this server can believe it."""

    #: the client's address
    address: IPAddress
    #: the TCP peer (a trusted proxy, or the client itself)
    peer: IPAddress
    #: the scheme the client used: the connection's, or a trusted proxy's word
    scheme: str

    @property
    def proxied(self) -> bool:
        return self.address != self.peer


class RemoteAddressResolver:
    """Turns a WSGI environ into the client's address and scheme."""

    def __init__(self, trusted_proxies: Iterable[Network] = (),
                 header: str = "x-forwarded-for") -> None:
        self.trusted_proxies = tuple(trusted_proxies)
        self.header = to_proxy_header(header)

    def is_trusted(self, address: IPAddress) -> bool:
        return any(address.version == net.version and address in net
                   for net in self.trusted_proxies)

    def resolve(self, environ: dict) -> IPAddress:
        """The client's address (see :meth:`origin`)."""
        return self.origin(environ).address

    def origin(self, environ: dict) -> Origin:
        """Raises ValueError when a trusted proxy's entry cannot be read."""
        peer = normalize(environ.get("REMOTE_ADDR", ""))
        scheme = environ.get("wsgi.url_scheme", "http")
        if not self.trusted_proxies or not self.is_trusted(peer):
            return Origin(peer, peer, scheme)
        if self.header == "forwarded":
            header = environ.get("HTTP_FORWARDED", "").strip()
            hops = forwarded_hops(header)
        else:
            header = environ.get("HTTP_X_FORWARDED_FOR", "").strip()
            hops = x_forwarded_for_hops(header)
            proto = environ.get("HTTP_X_FORWARDED_PROTO", "").rpartition(",")[2]
            if proto.strip().lower() in _SCHEMES:
                scheme = proto.strip().lower()
        if not header:
            return Origin(peer, peer, scheme)  # the proxy itself asks
        hop = _Hop(peer)
        for hop in hops:
            if not self.is_trusted(hop.address):
                break
        # every hop trusted: the leftmost is as far as anyone can tell
        return Origin(hop.address, peer, hop.proto or scheme)
