"""Cloudflare DNS through API v4, with an API token as a bearer.

The zone id is found by the zone's name, the record by type and name; its
content is changed with PATCH, or it is created with POST when missing and
``create = yes``.  ``ttl`` and ``proxied`` are left as they are unless set.
Errors from Cloudflare's envelope (``{"success": false, "errors": [...]}``)
are shown as given.
"""
from __future__ import annotations

from typing import Any

import requests

from ..config import Option
from ..converters import optional, to_bool, to_nonempty_text, url
from ..errors import CredentialsRefused, Misconfigured
from .base import Current, Record
from .httpapi import HTTPAPIProvider

DEFAULT_ENDPOINT = "https://api.cloudflare.com/client/v4"
#: envelope error codes that mean the token is wrong or lacks permission
TOKEN_ERRORS = {6003, 6111, 9106, 9109, 10000, 10001}


def error_codes(response: requests.Response) -> set[Any]:
    try:
        return {e.get("code") for e in response.json().get("errors") or []
                if isinstance(e, dict)}
    except (ValueError, AttributeError):
        return set()


class CloudflareProvider(HTTPAPIProvider):
    name = "cloudflare"
    service = "Cloudflare"
    shared = ("zone", "host", "ttl", "create")
    options = (
        Option("api_token", to_nonempty_text, None, secret=True, help=(
            "An API token with Zone:DNS:Edit permission for the zone.")),
        Option("proxied", optional(to_bool), "", help=(
            "yes or no to set Cloudflare's proxy; empty keeps the record's.")),
        Option("endpoint", url(example=DEFAULT_ENDPOINT), DEFAULT_ENDPOINT,
               help="API root."),
    )

    def __init__(self, values: dict[str, Any], timeout: float) -> None:
        super().__init__(values, timeout)
        self._zone_id: str | None = None

    @staticmethod
    def error_text(response: requests.Response) -> str:
        try:
            errors = response.json()["errors"]
            return "; ".join(f"{e['code']}: {e['message']}" for e in errors) or \
                f"HTTP {response.status_code}"
        except (ValueError, KeyError, TypeError):
            return f"HTTP {response.status_code}"

    def refused(self, response: requests.Response, method: str, path: str) -> Exception:
        message = (f"Cloudflare: {method} {path} failed ({response.status_code}): "
                   f"{self.error_text(response)}")
        if error_codes(response) & TOKEN_ERRORS:
            return CredentialsRefused(message)
        return Misconfigured(message)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        envelope = super().call(method, path, **kwargs)
        if not isinstance(envelope, dict) or not envelope.get("success"):
            errors = envelope.get("errors") if isinstance(envelope, dict) else envelope
            raise Misconfigured(f"Cloudflare: {method} {path} failed: {errors!r}")
        return envelope["result"]

    def zone_id(self) -> str:
        if self._zone_id is None:
            zone = self.values["zone"]
            zones = self.call("GET", "/zones", params={"name": zone})
            if not zones:
                raise Misconfigured(f"Cloudflare: no zone {zone!r} for this token "
                                    "([cloudflare] zone)")
            self._zone_id = str(zones[0]["id"])
        return self._zone_id

    def read(self, record: Record) -> Current:
        found = self.call("GET", f"/zones/{self.zone_id()}/dns_records",
                          params={"type": record.rtype, "name": record.name})
        if not found:
            return Current(None)
        return Current(str(found[0]["content"]), handle=str(found[0]["id"]))

    def _body(self, address: str) -> dict[str, Any]:
        body: dict[str, Any] = {"content": address}
        if self.values["ttl"] is not None:
            body["ttl"] = self.values["ttl"]
        if self.values["proxied"] is not None:
            body["proxied"] = self.values["proxied"]
        return body

    def change(self, record: Record, address: str, handle: Any) -> None:
        self.call("PATCH", f"/zones/{self.zone_id()}/dns_records/{handle}",
                  json=self._body(address))

    def create(self, record: Record, address: str) -> None:
        self.call("POST", f"/zones/{self.zone_id()}/dns_records",
                  json={"type": record.rtype, "name": record.name, "ttl": 1,
                        "proxied": False, **self._body(address)})

    def write_txt(self, name: str, values: list[str]) -> None:
        """Delete the name's TXT records not in ``values``, create the missing
        ones (Cloudflare may show a TXT content quoted: compared unquoted)."""
        records = f"/zones/{self.zone_id()}/dns_records"
        found = self.call("GET", records, params={"type": "TXT", "name": name})
        held = {str(entry["content"]).strip('"'): entry for entry in found}
        for content, entry in held.items():
            if content not in values:
                self.call("DELETE", f"{records}/{entry['id']}")
        for value in values:
            if value not in held:
                self.call("POST", records, json={"type": "TXT", "name": name,
                                                 "content": value,
                                                 "ttl": self.values["ttl"] or 1})
