"""A real BIND9 ``named`` on a loopback high port, for RFC 2136 tests.

It runs in the foreground (``-g``) from a temporary directory with its own
config, zone file and TSIG keys, and is always stopped.  Results are checked
by asking it over DNS, never by reading Chipmunk's state.
"""
from __future__ import annotations

import base64
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import dns.message
import dns.name
import dns.query
import dns.rdatatype
import dns.tsig
import dns.update

from helpers import WAIT, server_config, stop_process

NAMED = "/usr/sbin/named"
ZONE = "example.test"
KEY_NAME = "chipmunk-key"
OTHER_KEY_NAME = "other-key"


def free_port_tcp_and_udp() -> int:
    for _ in range(50):
        with socket.socket() as tcp, socket.socket(type=socket.SOCK_DGRAM) as udp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port for named")


class Named:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port_tcp_and_udp()
        self.secret = base64.b64encode(os.urandom(32)).decode()
        self.other_secret = base64.b64encode(os.urandom(32)).decode()
        (directory / f"{ZONE}.db").write_text(
            "$TTL 300\n"
            f"@ IN SOA ns.{ZONE}. hostmaster.{ZONE}. 1 3600 600 86400 300\n"
            f"@ IN NS ns.{ZONE}.\n"
            "ns IN A 127.0.0.1\n"
            "home IN A 192.0.2.1\n")
        self.config = directory / "named.conf"
        self.config.write_text(f"""
options {{
    directory "{directory}";
    pid-file "{directory}/named.pid";
    session-keyfile "{directory}/session.key";
    managed-keys-directory "{directory}";
    listen-on port {self.port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    notify no;
    querylog yes;
    dnssec-validation no;
}};
controls {{ }};
key "{KEY_NAME}" {{ algorithm hmac-sha256; secret "{self.secret}"; }};
key "{OTHER_KEY_NAME}" {{ algorithm hmac-sha256; secret "{self.other_secret}"; }};
zone "{ZONE}" {{
    type primary;
    file "{directory}/{ZONE}.db";
    update-policy {{ grant {KEY_NAME} zonesub A AAAA TXT; }};
}};
""")
        self.log = directory / "named.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> Named:
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen([NAMED, "-g", "-c", str(self.config)],
                                            stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"named exited:\n{self.log.read_text()}")
            try:
                if self.query(ZONE, "SOA"):
                    return self
            except (OSError, dns.exception.DNSException):
                time.sleep(0.1)
        raise RuntimeError(f"named did not answer within {WAIT}s:\n{self.log.read_text()}")

    def stop(self) -> None:
        stop_process(self.process)

    def query(self, name: str, rdtype: str) -> list[str]:
        """The rrset's values, asked over DNS (TCP)."""
        response = dns.query.tcp(dns.message.make_query(name, rdtype), "127.0.0.1",
                                 port=self.port, timeout=5)
        values = []
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.from_text(rdtype):
                values.extend(rdata.to_text() for rdata in rrset)
        return sorted(values)

    def queries(self, name: str) -> int:
        """How many TSIG-signed queries for ``name`` named answered: the
        provider's reads (the tests' own queries are unsigned).  From named's
        query log (``querylog yes``; with ``-g`` it goes to named's output)."""
        signed = re.compile(rf"query: {re.escape(name)} IN \w+ \+\w*S")
        return sum(1 for line in self.log.read_text().splitlines() if signed.search(line))

    def serial(self) -> int:
        return int(self.query(ZONE, "SOA")[0].split()[2])

    def set(self, name: str, rdtype: str, *values: str) -> None:
        """Change a record behind Chipmunk's back, as another admin would."""
        key = dns.tsig.Key(KEY_NAME, self.secret, "hmac-sha256")
        update = dns.update.UpdateMessage(ZONE, keyring=key)
        update.replace(dns.name.from_text(name), 300, rdtype, *values)
        response = dns.query.tcp(update, "127.0.0.1", port=self.port, timeout=5)
        assert response.rcode() == 0


#: the names the dyndns2 tests' user alice owns
HOME, NAS = f"home.{ZONE}", f"nas.{ZONE}"


def publishing_config(tmp_path, named: Named, name: str = "state") -> str:
    """A chipmunk-server config whose user alice publishes HOME and NAS to
    ``named`` by RFC 2136 (state in ``tmp_path/name``)."""
    state = tmp_path / name
    state.mkdir()
    return server_config(state, users="alice = wonderland\n",
                         server="publish_non_global = yes\n") + (
        f"\n[Hostnames]\nalice = {HOME}, {NAS}\n\n[Publish]\nprovider = rfc2136\n"
        f"timeout = 3\nbackoff = 1\n\n[rfc2136]\nserver = 127.0.0.1\nport = {named.port}\n"
        f"zone = {ZONE}\n"
        f"key_name = {KEY_NAME}\nkey_secret = {named.secret}\nttl = 60\n")
