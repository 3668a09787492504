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

from ..cli import ExitCode
from ..config import Option
from ..converters import bounded_int, optional, to_bool, to_nonempty_text, url
from ..errors import PermanentError, TemporaryError
from ..http import HTTPClient
from . import DNSProvider, Record, to_hosts

DEFAULT_ENDPOINT = "https://api.cloudflare.com/client/v4"
#: envelope error codes that mean the token is wrong or lacks permission
TOKEN_ERRORS = {6003, 6111, 9106, 9109, 10000, 10001}


def cloudflare_errors(response: requests.Response) -> str:
    try:
        errors = response.json()["errors"]
        return "; ".join(f"{e['code']}: {e['message']}" for e in errors) or \
            f"HTTP {response.status_code}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"


class CloudflareProvider(DNSProvider):
    name = "cloudflare"
    options = (
        Option("api_token", to_nonempty_text, None, secret=True, help=(
            "An API token with Zone:DNS:Edit permission for the zone.")),
        Option("zone", to_nonempty_text, None, help=(
            "The zone's name, e.g. example.org.")),
        Option("host", to_hosts, "@", help=(
            "Names relative to the zone, comma-separated; @ for the apex.")),
        Option("ttl", optional(bounded_int(1, 86400)), "", help=(
            "TTL for records it writes (1 = automatic); empty keeps the record's.")),
        Option("proxied", optional(to_bool), "", help=(
            "yes or no to set Cloudflare's proxy; empty keeps the record's.")),
        Option("endpoint", url(example=DEFAULT_ENDPOINT), DEFAULT_ENDPOINT,
               help="API root."),
        Option("create", to_bool, "no", help=(
            "Create the record when it does not exist.")),
    )

    def __init__(self, values: dict[str, Any], timeout: float) -> None:
        super().__init__(values, timeout)
        self.endpoint = values["endpoint"].rstrip("/")
        self.zone = values["zone"].rstrip(".").lower()
        self.web = HTTPClient(timeout)
        self.web.session.headers["Authorization"] = f"Bearer {values['api_token']}"
        self._zone_id: str | None = None
        self._record_ids: dict[tuple[str, str], str] = {}

    def names(self) -> list[str]:
        return [self.zone if host == "@" else f"{host}.{self.zone}"
                for host in self.values["host"]]

    def close(self) -> None:
        self.web.close()

    def _call(self, method: str, path: str, **kwargs) -> Any:
        response = self.web.request(method, self.endpoint + path, "Cloudflare",
                                    detail=cloudflare_errors, **kwargs)
        try:
            envelope = response.json()
        except ValueError:
            raise TemporaryError(f"Cloudflare: {method} {path}: the answer is not JSON") \
                from None
        if not response.ok or not envelope.get("success"):
            codes = {e.get("code") for e in envelope.get("errors") or []
                     if isinstance(e, dict)}
            raise PermanentError(f"Cloudflare: {method} {path} failed "
                                 f"({response.status_code}): {cloudflare_errors(response)}",
                                 ExitCode.NOPERM if codes & TOKEN_ERRORS else ExitCode.CONFIG)
        return envelope["result"]

    def zone_id(self) -> str:
        if self._zone_id is None:
            zones = self._call("GET", "/zones", params={"name": self.zone})
            if not zones:
                raise PermanentError(f"Cloudflare: no zone {self.zone!r} for this token "
                                     "([cloudflare] zone)", ExitCode.CONFIG)
            self._zone_id = str(zones[0]["id"])
        return self._zone_id

    def read(self, record: Record) -> str | None:
        found = self._call("GET", f"/zones/{self.zone_id()}/dns_records",
                           params={"type": record.rtype, "name": record.name})
        if not found:
            self._record_ids.pop((record.name, record.rtype), None)
            return None
        self._record_ids[(record.name, record.rtype)] = str(found[0]["id"])
        return str(found[0]["content"])

    def write(self, record: Record, address: str, exists: bool) -> None:
        body: dict[str, Any] = {"content": address}
        if self.values["ttl"] is not None:
            body["ttl"] = self.values["ttl"]
        if self.values["proxied"] is not None:
            body["proxied"] = self.values["proxied"]
        records = f"/zones/{self.zone_id()}/dns_records"
        if exists:
            self._call("PATCH", f"{records}/{self._record_ids[(record.name, record.rtype)]}",
                       json=body)
        elif self.values["create"]:
            self._call("POST", records, json={"type": record.rtype, "name": record.name,
                                              "ttl": 1, "proxied": False, **body})
        else:
            raise PermanentError(f"Cloudflare: {record.name} has no {record.rtype} record; "
                                 "create it, or set [cloudflare] create = yes", ExitCode.CONFIG)
