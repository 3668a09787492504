"""A real PowerDNS authoritative server on loopback, for the dns-lexicon tests.

Debian's ``pdns-server`` with the sqlite3 backend runs in the foreground from
a temporary directory: DNS on one high port, its HTTP API (the one lexicon's
``powerdns`` provider speaks) on another.  The zone is created through that
API; results are checked by asking PowerDNS over DNS.
"""
from __future__ import annotations

import secrets
import sqlite3
import subprocess
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import requests

from bind import free_port_tcp_and_udp
from helpers import WAIT, stop_process

PDNS_SERVER = "/usr/sbin/pdns_server"
SCHEMA = Path("/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql")
ZONE = "example.test"


class PowerDNS:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.dns_port = free_port_tcp_and_udp()
        self.api_port = free_port_tcp_and_udp()
        self.api_key = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.api_port}"
        database = directory / "pdns.sqlite3"
        with sqlite3.connect(database) as db:
            db.executescript(SCHEMA.read_text())
        (directory / "pdns.conf").write_text(
            "launch=gsqlite3\n"
            f"gsqlite3-database={database}\n"
            f"local-address=127.0.0.1:{self.dns_port}\n"
            f"socket-dir={directory}\n"
            "api=yes\n"
            f"api-key={self.api_key}\n"
            "webserver=yes\n"
            "webserver-address=127.0.0.1\n"
            f"webserver-port={self.api_port}\n"
            "webserver-allow-from=127.0.0.0/8\n"
            "default-soa-content=ns.@ hostmaster.@ 1 10800 3600 604800 60\n"
            "disable-syslog=yes\n"
            "loglevel=6\n"
            "webserver-loglevel=normal\n")
        self.log = directory / "pdns.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> PowerDNS:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [PDNS_SERVER, f"--config-dir={self.directory}", "--daemon=no",
                 "--guardian=no", "--write-pid=no"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pdns_server exited:\n{self.log.read_text()}")
            try:
                if self.api("GET", "/servers/localhost").ok:
                    return self
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError(f"PowerDNS did not answer within {WAIT}s:\n{self.log.read_text()}")

    def stop(self) -> None:
        stop_process(self.process)

    def api_calls(self, what: str) -> int:
        """How many API requests whose line holds ``what`` (e.g. ``"GET
        /api/v1/servers/localhost/zones/example.test."``) PowerDNS logged."""
        return sum(1 for line in self.log.read_text().splitlines()
                   if "[webserver]" in line and what in line)

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{self.url}/api/v1{path}", timeout=5,
                                headers={"X-API-Key": self.api_key}, **kwargs)

    def create_zone(self, zone: str = ZONE) -> None:
        response = self.api("POST", "/servers/localhost/zones", json={
            "name": zone + ".", "kind": "Native", "nameservers": [f"ns.{zone}."]})
        assert response.status_code == 201, response.text

    def set(self, name: str, rdtype: str, ttl: int, *values: str) -> None:
        """Change an rrset behind Chipmunk's back, as another admin would."""
        response = self.api("PATCH", f"/servers/localhost/zones/{ZONE}.", json={"rrsets": [{
            "name": name + ".", "type": rdtype, "ttl": ttl, "changetype": "REPLACE",
            "records": [{"content": value, "disabled": False} for value in values]}]})
        assert response.status_code == 204, response.text

    def answer(self, name: str, rdtype: str) -> tuple[list[str], int | None]:
        """The rrset's values and its TTL, asked over DNS."""
        response = dns.query.tcp(dns.message.make_query(name, rdtype), "127.0.0.1",
                                 port=self.dns_port, timeout=5)
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.from_text(rdtype):
                return sorted(rdata.to_text() for rdata in rrset), rrset.ttl
        return [], None

    def query(self, name: str, rdtype: str) -> list[str]:
        return self.answer(name, rdtype)[0]
