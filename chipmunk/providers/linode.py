"""Linode DNS through API v4 (API v3, which the original used, is retired).

The domain is found with ``GET /domains`` and an ``X-Filter`` header, the
record by name and type in ``GET /domains/{id}/records`` (all pages); it is
changed with ``PUT .../records/{id}`` or, when missing and ``create = yes``,
made with ``POST``.  Linode's own error reasons are shown as given.  The
original's keys load unchanged: ``domain`` is this provider's spelling of
``zone``, and ``endpoint = https://api.linode.com`` means API v4 below it.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests

from ..config import Option
from ..converters import to_nonempty_text, url
from ..errors import Misconfigured
from .base import Current, Record
from .httpapi import HTTPAPIProvider

DEFAULT_ENDPOINT = "https://api.linode.com/v4"
PAGE_SIZE = 500


def to_endpoint(text: str) -> str:
    endpoint = url(example=DEFAULT_ENDPOINT)(text.strip() or DEFAULT_ENDPOINT)
    # the original's "https://api.linode.com" meant the API root: v4 lives below it
    return endpoint + "/v4" if endpoint.count("/") == 2 else endpoint


class LinodeProvider(HTTPAPIProvider):
    name = "linode"
    service = "Linode"
    shared = ("zone", "host", "ttl", "create")
    aliases = {"zone": ("domain",)}
    token_option = "api_key"
    token_hint = ("; Linode API v4 needs a personal access token with Domains "
                  "read/write access (Cloud Manager > API Tokens): API v3 keys no longer work")
    options = (
        Option("api_key", to_nonempty_text, None, secret=True, help=(
            "A Linode API v4 personal access token with Domains read/write.")),
        Option("endpoint", to_endpoint, DEFAULT_ENDPOINT, help=(
            "API root; the original's https://api.linode.com means the same.")),
    )

    def __init__(self, values: dict[str, Any], timeout: float) -> None:
        super().__init__(values, timeout)
        self._domain_id: int | None = None

    @staticmethod
    def error_text(response: requests.Response) -> str:
        """Linode's ``{"errors": [{"reason": ..., "field": ...}]}``, as given."""
        try:
            errors = response.json()["errors"]
            return "; ".join(f"{e['field']}: {e['reason']}" if e.get("field")
                             else e["reason"] for e in errors)
        except (ValueError, KeyError, TypeError):
            return f"HTTP {response.status_code}"

    def relative(self, record: Record) -> str:
        """The record's name as Linode keeps it: relative, empty for the domain."""
        zone = self.values["zone"]
        name = record.name.rstrip(".").lower()
        return "" if name == zone else name.removesuffix("." + zone)

    def _pages(self, path: str, **kwargs: Any) -> Iterator[dict]:
        page, pages = 1, 1
        while page <= pages:
            body = self.call("GET", path, params={"page": page, "page_size": PAGE_SIZE},
                             **kwargs)
            yield from body["data"]
            pages = int(body.get("pages", 1))
            page += 1

    def domain_id(self) -> int:
        if self._domain_id is None:
            zone = self.values["zone"]
            headers = {"X-Filter": json.dumps({"domain": zone})}
            for domain in self._pages("/domains", headers=headers):
                if domain["domain"].lower() == zone:
                    self._domain_id = int(domain["id"])
                    break
            else:
                raise Misconfigured(f"Linode: no domain {zone!r} on this account "
                                    "([linode] domain)")
        return self._domain_id

    def read(self, record: Record) -> Current:
        name = self.relative(record)
        for entry in self._pages(f"/domains/{self.domain_id()}/records"):
            if entry["type"] == record.rtype and entry["name"].lower() == name:
                return Current(str(entry["target"]), handle=int(entry["id"]))
        return Current(None)

    def _body(self, address: str) -> dict[str, Any]:
        ttl = self.values["ttl"]
        return {"target": address, **({"ttl_sec": ttl} if ttl else {})}

    def change(self, record: Record, address: str, handle: Any) -> None:
        self.call("PUT", f"/domains/{self.domain_id()}/records/{handle}",
                  json=self._body(address))

    def create(self, record: Record, address: str) -> None:
        self.call("POST", f"/domains/{self.domain_id()}/records",
                  json={"type": record.rtype, "name": self.relative(record),
                        **self._body(address)})
