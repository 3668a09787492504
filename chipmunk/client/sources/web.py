"""HTTP sources: public echo services, and the chipmunk server.

An echo service answers with the address it sees, in one of the three
forms the common services use: the bare address (icanhazip, ipify), a JSON
object with ``ip`` (ipify's ``?format=json``, chipmunk's ``Client_IP``), or
``key=value`` lines with ``ip=`` (Cloudflare's ``/cdn-cgi/trace``).  An
answer in none of them (a block page, a captive portal's HTML) is a failure.
Connections go over the family asked for and never through a proxy.
"""
from __future__ import annotations

import json
import socket
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ...errors import UpdateError
from ...http import HTTPClient
from ..chipmunkserver import TLS_HINT, discover
from . import IPAddress, Source, SourceFailed
from .spec import SourceSpec

if TYPE_CHECKING:
    from ..settings import ClientSettings

#: an address fits in far less; a larger body is a page, not an answer
MAX_BODY = 16384
JSON_KEYS = ("ip", "Client_IP", "address")


def answer_text(body: str) -> str:
    """The address text in an echo service's body, in whichever form it uses."""
    text = body.strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            return text
        if isinstance(document, dict):
            for key in JSON_KEYS:
                if isinstance(document.get(key), str):
                    return document[key]
        return text
    lines = text.splitlines()
    if len(lines) > 1 or text.startswith("ip="):
        for line in lines:
            key, equals, value = line.partition("=")
            if equals and key.strip() == "ip":
                return value.strip()
    return text


def check_reachable(url: str, family: int, family_name: str) -> None:
    """SourceFailed when the URL's host has no address of ``family``."""
    parts = urlsplit(url)
    try:
        socket.getaddrinfo(parts.hostname, parts.port or 443, family=(
            socket.AF_INET if family == 4 else socket.AF_INET6), type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise SourceFailed(f"{parts.hostname} has no {family_name} address "
                           f"({error.strerror})") from None


class EchoSource(Source):
    def __init__(self, spec: SourceSpec, settings: ClientSettings) -> None:
        super().__init__(spec)
        self.web = HTTPClient(settings.discovery_timeout, family=spec.family)

    def ask(self, timeout: float) -> IPAddress:
        check_reachable(self.spec.target, self.spec.family, self.family_name)
        try:
            response = self.web.request("GET", self.spec.target, "echo service",
                                        timeout=timeout, stream=True,
                                        headers={"Accept": "text/plain, application/json"})
        except UpdateError as error:
            raise SourceFailed(str(error).removeprefix("echo service: ")) from None
        try:
            if response.status_code != 200:
                raise SourceFailed(f"answered {response.status_code}")
            # at most MAX_BODY + 1 bytes, however much a service sends
            body = response.raw.read(MAX_BODY + 1, decode_content=True)
        except OSError as error:
            raise SourceFailed(f"the answer broke off: {error}") from None
        finally:
            response.close()
        if len(body) > MAX_BODY:
            raise SourceFailed(f"answered more than {MAX_BODY} bytes: a page, not an address")
        return self.parsed(answer_text(body.decode("utf-8", "replace")), "the answer")

    def close(self) -> None:
        self.web.close()


class ChipmunkSource(Source):
    """The chipmunk server of ``[ChipmunkAPIServer]``, reached over the family
    asked; its answer is believed as the original client believed it."""

    trusted_when_not_global = True

    def __init__(self, spec: SourceSpec, settings: ClientSettings) -> None:
        super().__init__(spec)
        self.settings = settings
        self.web = HTTPClient(settings.discovery_timeout, verify=settings.tls_verify,
                              tls_hint=TLS_HINT, family=spec.family)
        self.web.session.auth = (settings.username or "", settings.password or "")

    def ask(self, timeout: float) -> IPAddress:
        endpoint = self.settings.endpoint or ""
        check_reachable(endpoint, self.spec.family, self.family_name)
        # /set saves the address on the server: only the IPv4 answer may
        method = self.settings.method if self.spec.family == 4 else "get"
        try:
            address = discover(self.settings, self.web, endpoint, method, timeout)
        except UpdateError as error:
            raise SourceFailed(str(error).removeprefix("chipmunk server: ")) from None
        return self.parsed(str(address), "the answer")

    def close(self) -> None:
        self.web.close()
