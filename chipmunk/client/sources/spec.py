"""``[Discovery]`` sources as written: parsed and checked, nothing asked.

A source is one comma-separated item of ``ipv4 =`` or ``ipv6 =``:

- ``chipmunk``: the chipmunk server of ``[ChipmunkAPIServer]``;
- ``http://…`` or ``https://…``: an echo service whose body is the address,
  a JSON object with ``ip`` (or ``Client_IP``), or ``ip=`` lines;
- ``dns:NAME@SERVER[:PORT][/TYPE[/CLASS]]``: a name server that answers
  ``NAME`` with the asker's address (an IPv6 server in brackets);
- ``upnp`` and ``natpmp``: the router (IPv4 only);
- ``interface:NAME``: an address of a local interface;
- ``command:/path``: a program whose output is the address.

Each family is asked over itself: an IPv4 source is reached over IPv4 only,
so a DNS server of the other family is a configuration error here.
"""
from __future__ import annotations

import importlib.util
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

FAMILY_NAMES = {4: "IPv4", 6: "IPv6"}
FAMILY_KEYS = {4: "ipv4", 6: "ipv6"}
RECORD_TYPES = {4: "A", 6: "AAAA"}
#: the answer types a whoami name may have, and the classes
DNS_TYPES = ("A", "AAAA", "TXT")
DNS_CLASSES = ("IN", "CH")
#: cheapest first: local answers, NAT-PMP (one UDP round trip to the
#: router), one DNS question, HTTP (a TCP and perhaps a TLS handshake), and
#: UPnP, whose SSDP search waits about a second in a new process (the
#: daemon keeps the router it found: then UPnP costs a LAN round trip,
#: see UPnPSource.cost)
COSTS = {"interface": 0, "command": 1, "natpmp": 2, "dns": 4, "http": 5, "chipmunk": 5,
         "upnp": 7}
ROUTER_KINDS = ("upnp", "natpmp")
#: kind -> (module to import, the Debian package that has it)
NEEDS = {"dns": ("dns.message", "python3-dnspython, or pip install dnspython"),
         "upnp": ("miniupnpc", "python3-miniupnpc, or pip install miniupnpc"),
         "http": ("requests", "python3-requests, or pip install 'chipmunk[client]'"),
         "chipmunk": ("requests", "python3-requests, or pip install 'chipmunk[client]'")}

#: Public services asked when no chipmunk server is configured, each run by
#: someone else so that one operator's fault cannot make two of them agree:
#: ipify (ipify.org, an open-source service by Randall Degges), icanhazip
#: (run by Cloudflare), OpenDNS (Cisco) and Google's authoritative servers.
DEFAULT_SOURCES = {
    4: ("https://api4.ipify.org", "https://ipv4.icanhazip.com",
        "dns:myip.opendns.com@208.67.222.222",
        "dns:o-o.myaddr.l.google.com@216.239.32.10/TXT"),
    6: ("https://api6.ipify.org", "https://ipv6.icanhazip.com",
        "dns:myip.opendns.com@[2620:119:35::35]",
        "dns:o-o.myaddr.l.google.com@[2001:4860:4802:32::a]/TXT"),
}


@dataclass(frozen=True)
class SourceSpec:
    """One source of one family as the config names it."""

    text: str
    kind: str
    family: int
    #: the URL, interface name or program path; for ``dns`` the server
    target: str = ""
    #: dns only: the name asked, the port, the answer's type and class
    name: str = ""
    port: int = 53
    rdtype: str = ""
    rdclass: str = "IN"

    def __str__(self) -> str:
        return self.text

    @property
    def cost(self) -> int:
        return COSTS[self.kind]

    @property
    def is_router(self) -> bool:
        return self.kind in ROUTER_KINDS


def parse_source(text: str, family: int) -> SourceSpec:
    """The source ``text`` names; ValueError says what is wrong with it."""
    text = text.strip()
    lowered = text.lower()
    if lowered in ("chipmunk", "upnp", "natpmp"):
        if lowered in ROUTER_KINDS and family == 6:
            raise ValueError(f"{lowered}: the router reports its IPv4 address only; "
                             "use it in ipv4")
        return SourceSpec(text, lowered, family)
    if lowered.startswith(("http://", "https://")):
        parts = urlsplit(text)
        if not parts.hostname:
            raise ValueError(f"{text}: no host in the URL")
        return SourceSpec(text, "http", family, text)
    kind, colon, rest = text.partition(":")
    rest = rest.strip()
    if colon and kind.lower() in ("interface", "command"):
        if not rest:
            raise ValueError(f"{text}: expected {kind.lower()}:"
                             + ("NAME (e.g. interface:ppp0)" if kind.lower() == "interface"
                                else "/path/to/program"))
        if kind.lower() == "command" and not rest.startswith("/"):
            raise ValueError(f"{text}: give the program's absolute path")
        return SourceSpec(text, kind.lower(), family, rest)
    if colon and kind.lower() == "dns":
        return _dns_source(text, rest, family)
    raise ValueError(f"{text!r}: unknown source (expected chipmunk, http(s)://…, "
                     "dns:NAME@SERVER, upnp, natpmp, interface:NAME or command:/path)")


def _dns_source(text: str, rest: str, family: int) -> SourceSpec:
    name, at, where = rest.partition("@")
    if not at or not name.strip() or not where.strip():
        raise ValueError(f"{text}: expected dns:NAME@SERVER[:PORT][/TYPE[/CLASS]], "
                         "e.g. dns:myip.opendns.com@208.67.222.222")
    server_part, *kinds = where.split("/")
    if len(kinds) > 2:
        raise ValueError(f"{text}: expected at most /TYPE/CLASS after the server")
    server, port = _host_and_port(text, server_part.strip())
    try:
        literal = ipaddress.ip_address(server)
    except ValueError:
        literal = None
    if literal is not None and literal.version != family:
        raise ValueError(f"{text}: an {FAMILY_NAMES[family]} source asks over "
                         f"{FAMILY_NAMES[family]}; {server} is an "
                         f"{FAMILY_NAMES[literal.version]} server")
    rdtype = (kinds[0].strip().upper() if kinds else "") or ("A" if family == 4 else "AAAA")
    rdclass = (kinds[1].strip().upper() if len(kinds) > 1 else "") or "IN"
    if rdtype not in DNS_TYPES:
        raise ValueError(f"{text}: TYPE must be one of {', '.join(DNS_TYPES)}")
    if rdclass not in DNS_CLASSES:
        raise ValueError(f"{text}: CLASS must be one of {', '.join(DNS_CLASSES)}")
    if (rdtype, family) in (("A", 6), ("AAAA", 4)):
        raise ValueError(f"{text}: {rdtype} records hold "
                         f"{'IPv4' if rdtype == 'A' else 'IPv6'} addresses; in "
                         f"{FAMILY_KEYS[family]} ask for "
                         f"{RECORD_TYPES[family]} or TXT")
    return SourceSpec(text, "dns", family, server, name=name.strip().rstrip(".") + ".",
                      port=port, rdtype=rdtype, rdclass=rdclass)


def _host_and_port(text: str, server: str) -> tuple[str, int]:
    port = "53"
    if server.startswith("["):
        host, bracket, after = server[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise ValueError(f"{text}: expected [IPv6]:PORT")
        port = after[1:] or port
    elif server.count(":") == 1:
        host, _, port = server.partition(":")
    elif ":" in server:
        raise ValueError(f"{text}: put an IPv6 server in brackets, e.g. "
                         "dns:myip.test@[2001:db8::53]:5300")
    else:
        host = server
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text}: the port must be a number from 1 to 65535")
    return host, int(port)


def to_sources(family: int) -> Callable[[str], tuple[SourceSpec, ...]]:
    """The converter of ``ipv4`` / ``ipv6``: comma-separated sources, each once."""
    def sources(text: str) -> tuple[SourceSpec, ...]:
        items = [item.strip() for item in text.split(",") if item.strip()]
        if not items:
            raise ValueError("expected one or more sources, comma-separated")
        parsed = tuple(parse_source(item, family) for item in items)
        seen = set()
        for spec in parsed:
            if spec.text.lower() in seen:
                raise ValueError(f"{spec.text} is listed twice")
            seen.add(spec.text.lower())
        return parsed
    return sources


def default_sources(family: int) -> tuple[SourceSpec, ...]:
    return to_sources(family)(", ".join(DEFAULT_SOURCES[family]))


def default_agreement(count: int) -> int:
    """2 when at least three sources are listed, else 1."""
    return 2 if count >= 3 else 1


def missing_library(spec: SourceSpec) -> str | None:
    """The install command when the library ``spec``'s kind needs is absent."""
    needed = NEEDS.get(spec.kind)
    if needed is None:
        return None
    module, install = needed
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # the parent package is missing
        found = False
    return None if found else f"{spec.kind} sources need {module.split('.')[0]}: " \
        f"apt install {install}"
