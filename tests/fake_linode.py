"""A local fake of the Linode API v4 domains endpoints, over real HTTP.

It follows Linode's documented behaviour for what Chipmunk uses: bearer
tokens (401 ``Invalid Token``), ``GET /v4/domains`` with an ``X-Filter``
JSON header, paginated lists (``data``, ``page``, ``pages``, ``results``,
``page`` and ``page_size`` parameters), ``GET``/``POST`` on
``/v4/domains/{id}/records``, ``PUT`` on ``.../records/{id}``, and error
bodies ``{"errors": [{"reason": ..., "field": ...}]}``.  Tests can queue
canned failures (429 with Retry-After, 5xx, garbage) and read the request log.
"""
from __future__ import annotations

import ipaddress
import json
import re
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from localhttp import LocalHTTPServer, QuietHandler


@dataclass
class Canned:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


class FakeLinode:
    def __init__(self, token: str = "good-token", max_page_size: int = 500) -> None:
        self.token = token
        self.max_page_size = max_page_size
        self.domains: dict[int, dict] = {}
        self.records: dict[int, list[dict]] = {}
        self.requests: list[tuple[str, str, dict | None]] = []
        #: the X-Filter header of each request (None when absent)
        self.filters: list[str | None] = []
        self.canned: list[Canned] = []
        self._next_id = 1000
        self._lock = threading.Lock()
        self.http: LocalHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        assert self.http is not None
        return f"{self.http.url}/v4"

    def __enter__(self) -> FakeLinode:
        self.http = LocalHTTPServer(self._handler_class())
        return self

    def __exit__(self, *exc) -> None:
        assert self.http is not None
        self.http.close()

    def add_domain(self, name: str) -> int:
        with self._lock:
            self._next_id += 1
            self.domains[self._next_id] = {"id": self._next_id, "domain": name,
                                           "type": "master", "status": "active"}
            self.records[self._next_id] = []
            return self._next_id

    def add_record(self, domain_id: int, name: str, rtype: str, target: str) -> dict:
        with self._lock:
            self._next_id += 1
            record = {"id": self._next_id, "name": name, "type": rtype, "target": target,
                      "ttl_sec": 0, "priority": 0, "weight": 0, "port": 0}
            self.records[domain_id].append(record)
            return record

    def find(self, domain_id: int, name: str, rtype: str) -> dict | None:
        return next((r for r in self.records[domain_id]
                     if r["name"] == name and r["type"] == rtype), None)

    def writes(self) -> list[tuple[str, str, dict | None]]:
        return [r for r in self.requests if r[0] in ("PUT", "POST")]

    # -- HTTP -------------------------------------------------------------

    def _handler_class(self):
        fake = self

        class Handler(QuietHandler):
            def _handle(self) -> None:
                body = self.read_json()
                fake.requests.append((self.command, self.path, body))
                fake.filters.append(self.headers.get("X-Filter"))
                if fake.canned:
                    canned = fake.canned.pop(0)
                    self.answer(canned.status, canned.body, headers=canned.headers)
                    return
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    self.answer(401, {"errors": [{"reason": "Invalid Token"}]})
                    return
                status, document = fake.route(self.command, self.path, self.headers, body)
                self.answer(status, document)

            do_GET = do_PUT = do_POST = do_DELETE = _handle

        return Handler

    def route(self, method: str, target: str, headers, body) -> tuple[int, dict]:
        url = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        with self._lock:
            if method == "GET" and url.path == "/v4/domains":
                items = list(self.domains.values())
                wanted = json.loads(headers.get("X-Filter") or "{}")
                items = [d for d in items if all(d.get(k) == v for k, v in wanted.items())]
                return 200, self._page(items, query)
            match = re.fullmatch(r"/v4/domains/(\d+)/records(?:/(\d+))?", url.path)
            if not match or int(match.group(1)) not in self.domains:
                return 404, {"errors": [{"reason": "Not found"}]}
            records = self.records[int(match.group(1))]
            if method == "GET" and match.group(2) is None:
                return 200, self._page(records, query)
            if method == "POST" and match.group(2) is None:
                error = _invalid(body, creating=True)
                if error:
                    return 400, {"errors": [error]}
                self._next_id += 1
                record = {"id": self._next_id, "name": body["name"], "type": body["type"],
                          "target": body["target"], "ttl_sec": body.get("ttl_sec", 0)}
                records.append(record)
                return 200, record
            if method == "PUT" and match.group(2) is not None:
                record = next((r for r in records if r["id"] == int(match.group(2))), None)
                if record is None:
                    return 404, {"errors": [{"reason": "Not found"}]}
                error = _invalid({**record, **body}, creating=False)
                if error:
                    return 400, {"errors": [error]}
                record.update(body)
                return 200, record
            return 405, {"errors": [{"reason": "Method Not Allowed"}]}

    def _page(self, items: list, query: dict) -> dict:
        size = min(int(query.get("page_size", 100)), self.max_page_size)
        page = int(query.get("page", 1))
        pages = max(1, -(-len(items) // size))
        return {"data": items[(page - 1) * size:page * size], "page": page, "pages": pages,
                "results": len(items)}


def _invalid(record: dict, creating: bool) -> dict | None:
    if creating and record.get("type") not in ("A", "AAAA", "CNAME", "TXT", "MX"):
        return {"field": "type", "reason": "type is required"}
    if record.get("type") in ("A", "AAAA"):
        try:
            version = ipaddress.ip_address(record.get("target", "")).version
        except ValueError:
            return {"field": "target", "reason": "Must be a valid IPv4 or IPv6 address"}
        if (version == 6) != (record["type"] == "AAAA"):
            return {"field": "target", "reason": "Must be a valid IPv4 address"
                    if record["type"] == "A" else "Must be a valid IPv6 address"}
    return None
