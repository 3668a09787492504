"""Asking the chipmunk server for this machine's public address.

``method = get`` asks ``/get/ip.json``; ``method = set`` asks ``/set``, which
also has the server save the address.  IPv6 comes from the same endpoint (when
it is reached over IPv6), from ``endpoint6`` (always a plain get, so the
``.cm`` file keeps the main address), or from a local interface.  Only an
answer that parses as an IP address is believed: an HTML page from a captive
portal, an empty body or garbage is an error and never reaches a DNS provider.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from ..errors import CredentialsRefused, Misconfigured, TemporaryError, UpdateError
from ..http import HTTPClient, short_body
from .local_ipv6 import stable_ipv6
from .settings import ClientSettings

PATHS = {"get": "/get/ip.json", "set": "/set"}
TLS_HINT = (". If the server uses a private CA, set [ChipmunkAPIServer] tls_verify = "
            "/path/to/ca.pem; tls_verify = no turns checking off (not recommended)")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def server_client(settings: ClientSettings) -> HTTPClient:
    web = HTTPClient(settings.timeout, verify=settings.tls_verify, tls_hint=TLS_HINT)
    web.session.auth = (settings.username, settings.password)
    return web


def discover(settings: ClientSettings, web: HTTPClient, endpoint: str | None = None,
             method: str | None = None) -> IPAddress:
    """This machine's public address as the chipmunk server at ``endpoint`` sees it."""
    method = method or settings.method
    url = (endpoint or settings.endpoint) + PATHS[method]
    try:
        response = web.request("POST" if method == "set" else "GET", url, "chipmunk server")
    except CredentialsRefused as error:
        raise error.with_hint(" (check [ChipmunkAPIServer] username and password)") \
            from None
    if 400 <= response.status_code < 500:
        raise Misconfigured(f"chipmunk server: {url} answered {response.status_code}: "
                            f"{short_body(response)} (check [ChipmunkAPIServer] endpoint)")
    if response.status_code != 200:
        raise TemporaryError(f"chipmunk server: {url} answered {response.status_code}: "
                             f"{short_body(response)}")
    try:
        answer = response.json()["Client_IP"]
        return ipaddress.ip_address(answer)
    except (ValueError, KeyError, TypeError):
        raise TemporaryError(f"chipmunk server: {url} did not answer with an address: "
                             f"{short_body(response)!r}") from None


@dataclass
class Discovered:
    """What one cycle learned: an address per record type, and what failed."""

    addresses: dict[str, str] = field(default_factory=dict)
    errors: list[UpdateError] = field(default_factory=list)


def record_type(address: IPAddress) -> str:
    return "AAAA" if address.version == 6 else "A"


def discover_all(settings: ClientSettings, web: HTTPClient) -> Discovered:
    """IPv4 and IPv6 as configured: the endpoint, endpoint6 or an interface.

    A family that cannot be learned this time is simply absent: its records
    are left alone (never blanked), and the error is reported.
    """
    found = Discovered()
    try:
        address = discover(settings, web)
        found.addresses[record_type(address)] = str(address)
    except UpdateError as error:
        found.errors.append(error)
    source = settings.ipv6_source
    if source == "server" and settings.endpoint6:
        try:
            address = discover(settings, web, settings.endpoint6, method="get")
        except UpdateError as error:
            found.errors.append(error)
        else:
            if address.version != 6:
                found.errors.append(Misconfigured(
                    f"chipmunk server: endpoint6 {settings.endpoint6} was reached over "
                    f"IPv4 (it answered {address}); give it an IPv6-only name or address"))
            else:
                found.addresses["AAAA"] = str(address)
    elif source.startswith("interface:"):
        try:
            found.addresses["AAAA"] = str(stable_ipv6(source.split(":", 1)[1]))
        except LookupError as error:
            found.errors.append(TemporaryError(f"[Global] ipv6_source = {source}: {error}"))
    elif source == "none":
        found.addresses.pop("AAAA", None)
    return found
