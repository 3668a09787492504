"""Asking the chipmunk server for this machine's public address.

``method = get`` asks ``/get/ip.json``; ``method = set`` asks ``/set``, which
also has the server save the address.  Only an answer that parses as an IP
address is believed: an HTML page from a captive portal, an empty body or
garbage is an error and never reaches a DNS provider.
"""
from __future__ import annotations

import ipaddress

from .client_settings import ClientSettings
from .errors import EXIT_CONFIG, EXIT_NOPERM, PermanentError, TemporaryError
from .webclient import WebClient, short_body

PATHS = {"get": "/get/ip.json", "set": "/set"}
TLS_HINT = (". If the server uses a private CA, set [ChipmunkAPIServer] tls_verify = "
            "/path/to/ca.pem; tls_verify = no turns checking off (not recommended)")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def server_client(settings: ClientSettings) -> WebClient:
    web = WebClient(settings.timeout, verify=settings.tls_verify, tls_hint=TLS_HINT)
    web.session.auth = (settings.username, settings.password)
    return web


def discover(settings: ClientSettings, web: WebClient) -> IPAddress:
    """This machine's public address as the chipmunk server sees it."""
    url = settings.endpoint + PATHS[settings.method]
    method = "POST" if settings.method == "set" else "GET"
    try:
        response = web.request(method, url, "chipmunk server")
    except PermanentError as error:
        if error.exit_code == EXIT_NOPERM:
            raise PermanentError(f"{error} (check [ChipmunkAPIServer] username and "
                                 "password)") from None
        raise
    if 400 <= response.status_code < 500:
        raise PermanentError(f"chipmunk server: {url} answered {response.status_code}: "
                             f"{short_body(response)} (check [ChipmunkAPIServer] endpoint)",
                             EXIT_CONFIG)
    if response.status_code != 200:
        raise TemporaryError(f"chipmunk server: {url} answered {response.status_code}: "
                             f"{short_body(response)}")
    try:
        answer = response.json()["Client_IP"]
        return ipaddress.ip_address(answer)
    except (ValueError, KeyError, TypeError):
        raise TemporaryError(f"chipmunk server: {url} did not answer with an address: "
                             f"{short_body(response)!r}") from None
