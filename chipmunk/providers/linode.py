"""Linode DNS through API v4 (API v3, which the original used, is retired).

The domain is found with ``GET /domains`` and an ``X-Filter`` header, the
record by name and type in ``GET /domains/{id}/records`` (all pages); it is
changed with ``PUT .../records/{id}`` or, when missing and ``create = yes``,
made with ``POST``.  Linode's own error reasons are shown as given.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import requests

from ..cli import ExitCode
from ..config import Option
from ..converters import bounded_int, to_bool, to_nonempty_text, to_text, url
from ..errors import PermanentError, TemporaryError
from ..http import HTTPClient
from . import DNSProvider, Record

DEFAULT_ENDPOINT = "https://api.linode.com/v4"
PAGE_SIZE = 500
TOKEN_HINT = ("; Linode API v4 needs a personal access token with Domains "
              "read/write access (Cloud Manager > API Tokens): API v3 keys no longer work")


def linode_errors(response: requests.Response) -> str:
    """Linode's ``{"errors": [{"reason": ..., "field": ...}]}``, as given."""
    try:
        errors = response.json()["errors"]
        return "; ".join(f"{e['field']}: {e['reason']}" if e.get("field") else e["reason"]
                         for e in errors)
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"


def to_endpoint(text: str) -> str:
    endpoint = url(example=DEFAULT_ENDPOINT)(text.strip() or DEFAULT_ENDPOINT)
    # the original's "https://api.linode.com" meant the API root: v4 lives below it
    return endpoint + "/v4" if endpoint.count("/") == 2 else endpoint


class LinodeProvider(DNSProvider):
    name = "linode"
    options = (
        Option("api_key", to_nonempty_text, None, secret=True, help=(
            "A Linode API v4 personal access token with Domains read/write.")),
        Option("host", to_text, "@", help=(
            "The record's name within the domain; @ or empty for the domain itself.")),
        Option("domain", to_nonempty_text, None, help=(
            "The domain as Linode's DNS Manager lists it, e.g. example.org.")),
        Option("endpoint", to_endpoint, DEFAULT_ENDPOINT, help=(
            "API root; the original's https://api.linode.com means the same.")),
        Option("ttl", bounded_int(0, 2419200), "0", help=(
            "TTL in seconds for records it creates or changes; 0 keeps Linode's default.")),
        Option("create", to_bool, "no", help=(
            "Create the record when it does not exist.")),
    )

    def __init__(self, values: dict[str, Any], timeout: float) -> None:
        super().__init__(values, timeout)
        self.endpoint = values["endpoint"]
        self.host = "" if values["host"] in ("@", "") else values["host"]
        self.domain = values["domain"].rstrip(".").lower()
        self.web = HTTPClient(timeout)
        self.web.session.headers["Authorization"] = f"Bearer {values['api_key']}"
        self._domain_id: int | None = None
        self._record_ids: dict[str, int] = {}

    def names(self) -> list[str]:
        return [f"{self.host}.{self.domain}" if self.host else self.domain]

    def close(self) -> None:
        self.web.close()

    def _call(self, method: str, path: str, **kwargs) -> Any:
        try:
            response = self.web.request(method, self.endpoint + path, "Linode",
                                        detail=linode_errors, **kwargs)
        except PermanentError as error:
            if error.exit_code != ExitCode.NOPERM:  # TLS trouble: the token is not the issue
                raise
            raise PermanentError(str(error) + TOKEN_HINT, error.exit_code) from None
        if not response.ok:
            raise PermanentError(f"Linode: {method} {path} failed "
                                 f"({response.status_code}): {linode_errors(response)}",
                                 ExitCode.CONFIG)
        try:
            return response.json()
        except ValueError:
            raise TemporaryError(f"Linode: {method} {path}: the answer is not JSON") \
                from None

    def _pages(self, path: str, **kwargs) -> Iterator[dict]:
        page, pages = 1, 1
        while page <= pages:
            body = self._call("GET", path, params={"page": page, "page_size": PAGE_SIZE},
                              **kwargs)
            yield from body["data"]
            pages = int(body.get("pages", 1))
            page += 1

    def domain_id(self) -> int:
        if self._domain_id is None:
            headers = {"X-Filter": json.dumps({"domain": self.domain})}
            for domain in self._pages("/domains", headers=headers):
                if domain["domain"].lower() == self.domain:
                    self._domain_id = int(domain["id"])
                    break
            else:
                raise PermanentError(f"Linode: no domain {self.domain!r} on this account "
                                     "([linode] domain)", ExitCode.CONFIG)
        return self._domain_id

    def read(self, record: Record) -> str | None:
        path = f"/domains/{self.domain_id()}/records"
        for entry in self._pages(path):
            if entry["type"] == record.rtype and entry["name"].lower() == self.host.lower():
                self._record_ids[record.rtype] = int(entry["id"])
                return str(entry["target"])
        self._record_ids.pop(record.rtype, None)
        return None

    def write(self, record: Record, address: str, exists: bool) -> None:
        body: dict[str, Any] = {"target": address}
        if self.values["ttl"]:
            body["ttl_sec"] = self.values["ttl"]
        records = f"/domains/{self.domain_id()}/records"
        if exists:
            self._call("PUT", f"{records}/{self._record_ids[record.rtype]}", json=body)
        elif self.values["create"]:
            self._call("POST", records, json={"type": record.rtype, "name": self.host,
                                              **body})
        else:
            raise PermanentError(f"Linode: {record.name} has no {record.rtype} record; "
                                 "create it, or set [linode] create = yes", ExitCode.CONFIG)
