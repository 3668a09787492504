"""The dyndns2 protocol, as routers, ddclient and inadyn speak it.

``GET /nic/update?hostname=h1,h2&myip=ADDR`` (also ``/v3/update`` and
``/update``) with Basic auth.  ``myip`` may be IPv4, IPv6 or both
(``v4,v6`` as a FRITZ!Box sends ``<ipaddr>,<ip6addr>``), a ``/len`` suffix is
dropped, ``myipv6`` gives the IPv6 address; without ``myip`` the address the
server sees is used.  Values may be URL-encoded or raw.  ``system``,
``wildcard``, ``mx``, ``backmx`` and ``offline`` are ignored.

The answer is ``text/plain`` with a Content-Length, one line per hostname in
request order: ``good ADDRS`` (a record changed and was published), ``nochg
ADDRS``, ``nohost`` (not this user's), ``notfqdn``, ``dnserr`` (a malformed
address, or one that is not global unicast -- private, loopback,
link-local, carrier-grade NAT's 100.64.0.0/10, documentation -- unless
``[Server] publish_non_global``: nothing published) or ``911`` (publishing
failed; try later).  HEAD is refused (405): it changes nothing anywhere.
Too many hostnames is one ``numhost``; none is one ``notfqdn``.
"""
from __future__ import annotations

import functools
import ipaddress
import logging
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from ..converters import normalize_hostname
from ..publicaddress import is_shared, why_not_public
from . import metrics
from .publisher import Published

if TYPE_CHECKING:
    from .runtime import Runtime

log = logging.getLogger(__name__)

MAX_HOSTNAMES = 20
PATHS = ("/nic/update", "/v3/update", "/update")
#: the body of a 401 on these paths: what dyndns2 clients expect to read
BADAUTH = "badauth\n"


def query_values(query_string: str) -> dict[str, str]:
    """The first value of each parameter; ``%3a`` and raw ``:`` and ``,`` alike.

    A router's query has nothing encoded (``hostname=h&myip=192.0.2.7``):
    split as parse_qsl would, without its decoding, which only ``%`` and
    ``+`` need (a repeated update costs less)."""
    values: dict[str, str] = {}
    if "%" in query_string or "+" in query_string:
        pairs = parse_qsl(query_string, keep_blank_values=True)
    else:
        pairs = [(part.partition("=")[0], part.partition("=")[2])
                 for part in query_string.split("&") if part]
    for key, value in pairs:
        values.setdefault(key, value)
    return values


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """One address of ``myip``; ValueError for what no record should hold."""
    address = ipaddress.ip_address(text.strip().split("/", 1)[0])
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            raise ValueError(f"{text!r}: a scoped address (%zone) means nothing in DNS")
        if address.ipv4_mapped:  # ::ffff:192.0.2.7 is the IPv4 address
            address = address.ipv4_mapped
    if address.is_unspecified or address.is_multicast or address == BROADCAST:
        raise ValueError(f"{text!r} is not a host's address")
    return address


BROADCAST = ipaddress.IPv4Address("255.255.255.255")


@functools.lru_cache(maxsize=1024)
def not_public(address: str) -> str | None:
    """Why ``address`` is no public address for a DNS record, or None when it
    is global unicast (:func:`chipmunk.publicaddress.why_not_public`)."""
    why = why_not_public(ipaddress.ip_address(address))
    if why is None or is_shared(ipaddress.ip_address(address)):
        return why
    return "is not a global unicast address ([Server] publish_non_global = yes allows it)"


def clipped(value: str | None, limit: int = 64) -> str:
    """``value`` as a log shows it: repr, at most ``limit`` characters of it."""
    if value is None:
        return "None"
    shown = repr(value[:limit])
    return shown if len(value) <= limit else f"{shown}... ({len(value)} characters)"


def requested_addresses(myip: str | None, myipv6: str | None,
                        seen: str) -> dict[str, str]:
    """Record type -> address for this update; ValueError when malformed.

    An absent or empty ``myip`` means the address the server sees.  Routers
    repeat the same strings every few minutes: parsed once, remembered
    (a bounded cache; each caller gets its own copy).
    """
    return dict(_requested_addresses(myip, myipv6, seen))


@functools.lru_cache(maxsize=4096)
def _requested_addresses(myip: str | None, myipv6: str | None,
                         seen: str) -> dict[str, str]:
    given = [part for part in (myip or "").split(",") if part.strip()]
    if len(given) > 2:  # one address per family at most; nothing long is parsed
        raise ValueError(f"myip has {len(given)} addresses")
    parsed = [_address(part) for part in given] if given else [_address(seen)]
    if myipv6 and myipv6.strip():
        extra = _address(myipv6)
        if extra.version != 6:
            raise ValueError(f"myipv6={myipv6!r} is not an IPv6 address")
        if not given:  # the seen address stands in for myip: myipv6 wins over it
            parsed = [address for address in parsed if address.version != 6]
        parsed.append(extra)
    addresses: dict[str, str] = {}
    for address in parsed:
        rtype = "AAAA" if address.version == 6 else "A"
        if addresses.setdefault(rtype, str(address)) != str(address):
            raise ValueError(f"two {rtype} addresses in one update")
    return addresses


def shown(addresses: dict[str, str]) -> str:
    """``192.0.2.7,2001:db8::7``: IPv4 first, as dyndns2 answers dual stack."""
    return ",".join(addresses[rtype] for rtype in ("A", "AAAA") if rtype in addresses)


def update_lines(runtime: Runtime, user: str, client: str, environ: dict) -> list[str]:
    """The answer's lines for one /nic/update request of ``user`` (counted)."""
    query = environ.get("QUERY_STRING", "")
    key = (user, client, query)
    lines = runtime.replays.get(key)
    if lines is None:
        lines = _update_lines(runtime, user, client, query, key)
    for line in lines:
        metrics.METRICS.dyndns(line.split(" ", 1)[0])
    return lines


def _update_lines(runtime: Runtime, user: str, client: str, query: str,
                  key: tuple[str, str, str]) -> list[str]:
    token = runtime.replays.token.current()  # before anything is read
    values = query_values(query)
    hostnames = [name for name in values.get("hostname", "").split(",") if name.strip()]
    if not hostnames:
        return ["notfqdn"]
    if len(hostnames) > MAX_HOSTNAMES:
        return ["numhost"]
    try:
        addresses = requested_addresses(values.get("myip"), values.get("myipv6"), client)
    except ValueError:
        log.info("dyndns2 update from %s as %s: malformed myip=%s myipv6=%s", client, user,
                 clipped(values.get("myip")), clipped(values.get("myipv6")))
        return ["dnserr"] * len(hostnames)
    if not runtime.settings.publish_non_global:
        for address in addresses.values():
            why = not_public(address)
            if why is not None:
                log.warning("dyndns2 update from %s as %s: not published: %s %s", client,
                            user, address, why)
                return ["dnserr"] * len(hostnames)
    owned = runtime.settings.owned(user)
    normalized = {raw: normalize_hostname(raw) for raw in hostnames}
    for raw, hostname in normalized.items():
        if hostname is not None and hostname not in owned:
            log.info("dyndns2 update from %s as %s: %s is not a hostname of theirs (nohost)",
                     client, user, clipped(raw, 253))
    # each name once, however often and however spelled (Home.Example.org.)
    theirs = list(dict.fromkeys(name for name in normalized.values() if name in owned))
    published = runtime.publisher.publish(user, theirs, addresses) if theirs else {}
    lines = [_line(hostname, owned, published, addresses)
             for hostname in (normalized[raw] for raw in hostnames)]
    if any(result is not Published.FAILED for result in published.values()) and \
            user in runtime.settings.users:  # a key has no .cm
        _remember(runtime, user, addresses, client)
    if all(result is Published.NOCHG for result in published.values()) and \
            len(theirs) == len(hostnames):
        until = runtime.publisher.settled_until(theirs, addresses)
        if until is not None:
            runtime.replays.keep(key, token, lines, until)
    return lines


def only_own_names(runtime: Runtime, key_id: str, environ: dict) -> bool:
    """Whether the update of key ``key_id`` names its own hostname and no other
    (a key is refused, 401, for any other name)."""
    values = query_values(environ.get("QUERY_STRING", ""))
    owned = runtime.settings.owned(key_id)
    names = [name for name in values.get("hostname", "").split(",") if name.strip()]
    return bool(names) and all(normalize_hostname(name) in owned for name in names)


def _line(hostname: str | None, owned: tuple[str, ...], published: dict[str, Published],
          addresses: dict[str, str]) -> str:
    """The answer's line for one requested name."""
    if hostname is None:
        return "notfqdn"
    if hostname not in owned:
        return "nohost"
    result = published[hostname]
    return result.value if result is Published.FAILED else \
        f"{result.value} {shown(addresses)}"


def _remember(runtime: Runtime, user: str, addresses: dict[str, str], client: str) -> None:
    """``<user>.cm`` holds the user's last address (IPv4 when both), as /set's."""
    runtime.addressbook.remember(user, addresses.get("A") or addresses["AAAA"], client)
