"""Asking the chipmunk server for this machine's public address.

``method = get`` asks ``/get/ip.json``; ``method = set`` asks ``/set``, which
also has the server save the address.  Only an
answer that parses as an IP address is believed: an HTML page from a captive
portal, an empty body or garbage is an error and never reaches a DNS provider.
"""
from __future__ import annotations

import ipaddress

from ..errors import CredentialsRefused, Misconfigured, TemporaryError
from ..http import HTTPClient, short_body
from .settings import ClientSettings

PATHS = {"get": "/get/ip.json", "set": "/set"}
TLS_HINT = (". If the server uses a private CA, set [ChipmunkAPIServer] tls_verify = "
            "/path/to/ca.pem; tls_verify = no turns checking off (not recommended)")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def record_type(address: IPAddress) -> str:
    return "AAAA" if address.version == 6 else "A"


def server_client(settings: ClientSettings) -> HTTPClient:
    web = HTTPClient(settings.timeout, verify=settings.tls_verify, tls_hint=TLS_HINT)
    if settings.username is not None and settings.password is not None:
        web.session.auth = (settings.username, settings.password)
    return web


def discover(settings: ClientSettings, web: HTTPClient, endpoint: str | None = None,
             method: str | None = None, timeout: float | None = None) -> IPAddress:
    """This machine's public address as the chipmunk server at ``endpoint`` sees it."""
    method = method or settings.method
    url = (endpoint or settings.endpoint or "") + PATHS[method]
    try:
        response = web.request("POST" if method == "set" else "GET", url, "chipmunk server",
                               timeout=timeout)
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
