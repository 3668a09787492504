"""A local fake of Cloudflare's API v4 for DNS records, over real HTTP.

What Chipmunk uses, as documented: bearer tokens, ``GET /zones?name=``,
``GET /zones/{id}/dns_records?type=&name=``, ``PATCH``, ``POST`` and ``DELETE`` on
records (several per name and type; an identical one is refused with 81058),
and the envelope ``{"success", "errors": [{"code", "message"}],
"messages", "result"}``.  Wrong tokens get 403 with code 10000
("Authentication error"), as Cloudflare answers.
"""
from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qs, urlsplit

from fake_linode import Canned
from localhttp import LocalHTTPServer, QuietHandler


def envelope(result=None, errors=None, success=True) -> dict:
    return {"success": success, "errors": errors or [], "messages": [], "result": result}


class FakeCloudflare:
    def __init__(self, token: str = "cf-token") -> None:
        self.token = token
        self.zones: dict[str, dict] = {}
        self.records: dict[str, list[dict]] = {}
        self.requests: list[tuple[str, str, dict | None]] = []
        self.canned: list[Canned] = []
        self.http: LocalHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        assert self.http is not None
        return f"{self.http.url}/client/v4"

    def __enter__(self) -> FakeCloudflare:
        self.http = LocalHTTPServer(self._handler())
        return self

    def __exit__(self, *exc) -> None:
        assert self.http is not None
        self.http.close()

    def add_zone(self, name: str) -> str:
        zone_id = uuid.uuid4().hex
        self.zones[zone_id] = {"id": zone_id, "name": name, "status": "active"}
        self.records[zone_id] = []
        return zone_id

    def add_record(self, zone_id: str, name: str, rtype: str, content: str,
                   ttl: int = 1, proxied: bool = False) -> dict:
        record = {"id": uuid.uuid4().hex, "zone_id": zone_id, "name": name, "type": rtype,
                  "content": content, "ttl": ttl, "proxied": proxied}
        self.records[zone_id].append(record)
        return record

    def find(self, zone_id: str, name: str, rtype: str) -> dict | None:
        return next((r for r in self.records[zone_id]
                     if r["name"] == name and r["type"] == rtype), None)

    def writes(self) -> list:
        return [r for r in self.requests if r[0] in ("PATCH", "POST", "PUT", "DELETE")]

    def _handler(self):
        fake = self

        class Handler(QuietHandler):
            def _handle(self) -> None:
                body = self.read_json()
                fake.requests.append((self.command, self.path, body))
                if fake.canned:
                    canned = fake.canned.pop(0)
                    self.answer(canned.status, canned.body, headers=canned.headers)
                elif self.headers.get("Authorization") != f"Bearer {fake.token}":
                    self.answer(403, envelope(None, [{"code": 10000, "message":
                                                      "Authentication error"}], False))
                else:
                    self.answer(*fake.route(self.command, self.path, body))

            do_GET = do_PATCH = do_POST = do_PUT = do_DELETE = _handle

        return Handler

    def route(self, method: str, target: str, body) -> tuple[int, dict]:
        url = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if method == "GET" and url.path == "/client/v4/zones":
            found = [z for z in self.zones.values() if z["name"] == query.get("name")]
            return 200, envelope(found)
        match = re.fullmatch(r"/client/v4/zones/(\w+)/dns_records(?:/(\w+))?", url.path)
        if not match or match.group(1) not in self.zones:
            return 404, envelope(None, [{"code": 7003, "message": "Could not route to "
                                         f"{url.path}, perhaps your object identifier is "
                                         "invalid?"}], False)
        records = self.records[match.group(1)]
        if method == "GET" and not match.group(2):
            found = [r for r in records if all(r[k] == query[k] for k in ("type", "name")
                                               if k in query)]
            return 200, envelope(found)
        if method == "POST" and not match.group(2):
            # several records may share a name and type (TXT, round-robin A);
            # only an identical one is refused
            if any(r["name"] == body["name"] and r["type"] == body["type"]
                   and r["content"] == body["content"] for r in records):
                return 400, envelope(None, [{"code": 81058, "message":
                                             "An identical record already exists."}],
                                     False)
            record = self.add_record(match.group(1), body["name"], body["type"],
                                     body["content"], body.get("ttl", 1),
                                     body.get("proxied", False))
            return 200, envelope(record)
        if method == "PATCH" and match.group(2):
            record = next((r for r in records if r["id"] == match.group(2)), None)
            if record is None:
                return 404, envelope(None, [{"code": 81044, "message":
                                             "Record does not exist."}], False)
            record.update(body)
            return 200, envelope(record)
        if method == "DELETE" and match.group(2):
            record = next((r for r in records if r["id"] == match.group(2)), None)
            if record is None:
                return 404, envelope(None, [{"code": 81044, "message":
                                             "Record does not exist."}], False)
            records.remove(record)
            return 200, envelope({"id": record["id"]})
        return 405, envelope(None, [{"code": 10405, "message": "Method not allowed"}], False)
