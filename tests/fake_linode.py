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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


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
        self.canned: list[Canned] = []
        self._next_id = 1000
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v4"

    def __enter__(self) -> "FakeLinode":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

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

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _reply(self, status: int, document, headers: dict | None = None) -> None:
                body = document if isinstance(document, str) else json.dumps(document)
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                fake.requests.append((self.command, self.path, body))
                if fake.canned:
                    canned = fake.canned.pop(0)
                    self._reply(canned.status, canned.body, canned.headers)
                    return
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    self._reply(401, {"errors": [{"reason": "Invalid Token"}]})
                    return
                status, document = fake.route(self.command, self.path, self.headers, body)
                self._reply(status, document)

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
