"""A small internet in network namespaces the tests create, for the client's
address discovery without (and with) a chipmunk server:

    home (the client) -- router (NAT: nftables masquerade; miniupnpd with
    UPnP IGD and NAT-PMP) -- [carrier (a second NAT: carrier-grade)] -- internet

The internet holds a real nginx answering the asker's address as text, as
JSON and as ``ip=`` lines (and a liar, an HTML page, a 403), a real
PowerDNS whose LUA records answer ``myip.test`` with the asker's address,
and a chipmunk-server.  IPv6 is routed without NAT: home has a global
address of its own.  ``ip netns exec home`` gives the client the hosts file
of ``/etc/netns/<home>/hosts``, where ``echo.test`` has both families.

With ``carrier=True`` the router's WAN address is 100.64.0.2 and the
carrier's NAT shows the internet 11.0.0.6: Debian's miniupnpd will not
report a reserved WAN address, so a small NAT-PMP responder on the router
stands in for a consumer router that does (the real miniupnpd serves every
other case).
"""
from __future__ import annotations

import ipaddress
import shutil
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import uuid
from pathlib import Path

from helpers import WAIT, NotifySocket, child_env, server_config, stop_process, wait_until
from nginx import configure

#: the internet's side of its link, where every service listens
INTERNET4, INTERNET6 = "11.0.0.1", "2a0a:1::1"
#: the address the internet sees for home: the router's WAN (or the carrier's)
WAN4, CARRIER_PUBLIC4 = "11.0.0.2", "11.0.0.6"
SHARED_WAN4 = "100.64.0.2"
HOME4, HOME6 = "192.168.1.2", "2a0a:2::2"
LIARS = {"/liar": "11.6.6.6", "/liar2": "11.7.7.7"}
SERVER_PORT = 8080
SLOW_PORT, DOWN_PORT = 81, 82
SQLITE_SCHEMA = Path("/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql")


def run(namespace: str, *argv: str) -> str:
    return subprocess.run(["ip", "netns", "exec", namespace, *argv], check=True,
                          capture_output=True, text=True, timeout=WAIT).stdout


class World:
    def __init__(self, directory: Path, carrier: bool = False) -> None:
        self.directory = directory
        tag = uuid.uuid4().hex[:6]
        self.home, self.router, self.internet = (f"cm-{tag}-{part}"
                                                 for part in ("home", "router", "inet"))
        self.carrier = f"cm-{tag}-carrier" if carrier else None
        self.namespaces = [self.home, self.router, self.internet] + \
            ([self.carrier] if self.carrier else [])
        self.processes: list[subprocess.Popen] = []
        self.hosts_dir = Path("/etc/netns") / self.home
        self.public4 = CARRIER_PUBLIC4 if carrier else WAN4
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    # -- the network ---------------------------------------------------------------
    def _build(self) -> None:
        for namespace in self.namespaces:
            subprocess.run(["ip", "netns", "add", namespace], check=True, timeout=WAIT)
            self.ip(namespace, "link", "set", "lo", "up")
            run(namespace, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0",
                "net.ipv6.conf.default.accept_dad=0")
        self.link(self.home, "lan0", self.router, "lan")
        self.address(self.home, "lan0", f"{HOME4}/24", f"{HOME6}/64")
        self.address(self.router, "lan", "192.168.1.1/24", "2a0a:2::1/64")
        self.ip(self.home, "route", "add", "default", "via", "192.168.1.1")
        self.ip(self.home, "-6", "route", "add", "default", "via", "2a0a:2::1")
        upstream = self.carrier or self.internet
        self.link(self.router, "wan", upstream, "down0")
        wan4 = SHARED_WAN4 if self.carrier else WAN4
        self.address(self.router, "wan", f"{wan4}/30", "2a0a:1::2/64" if not self.carrier
                     else "2a0a:3::2/64")
        self.forwarding(self.router)
        self.masquerade(self.router, "wan")
        if self.carrier:
            self.address(self.carrier, "down0", "100.64.0.1/30", "2a0a:3::1/64")
            self.link(self.carrier, "up0", self.internet, "down0")
            self.address(self.carrier, "up0", f"{CARRIER_PUBLIC4}/8", "2a0a:1::2/64")
            self.address(self.internet, "down0", f"{INTERNET4}/8", f"{INTERNET6}/64")
            self.forwarding(self.carrier)
            self.masquerade(self.carrier, "up0")
            self.ip(self.router, "route", "add", "default", "via", "100.64.0.1")
            self.ip(self.router, "-6", "route", "add", "default", "via", "2a0a:3::1")
            self.ip(self.carrier, "route", "add", "default", "via", INTERNET4)
            self.ip(self.carrier, "-6", "route", "add", "2a0a:2::/64", "via", "2a0a:3::2")
            self.ip(self.carrier, "-6", "route", "add", "default", "via", INTERNET6)
            self.ip(self.internet, "-6", "route", "add", "2a0a:2::/64", "via", "2a0a:1::2")
        else:
            self.address(self.internet, "down0", f"{INTERNET4}/8", f"{INTERNET6}/64")
            self.ip(self.router, "route", "add", "default", "via", INTERNET4)
            self.ip(self.router, "-6", "route", "add", "default", "via", INTERNET6)
            self.ip(self.internet, "-6", "route", "add", "2a0a:2::/64", "via", "2a0a:1::2")
        # a port whose packets vanish (a service past the deadline)
        self.nft(self.internet, f"table inet blackhole {{\n chain input {{\n type filter hook "
                                f"input priority 0; tcp dport {SLOW_PORT} drop\n }}\n}}\n")
        self.hosts_dir.mkdir(parents=True, exist_ok=True)
        (self.hosts_dir / "hosts").write_text(
            f"127.0.0.1 localhost\n::1 localhost\n{INTERNET4} echo.test\n"
            f"{INTERNET6} echo.test\n{INTERNET4} echo4.test\n")

    def ip(self, namespace: str, *args: str) -> None:
        subprocess.run(["ip", "-n", namespace, *args], check=True, capture_output=True,
                       timeout=WAIT)

    def link(self, left: str, left_name: str, right: str, right_name: str) -> None:
        self.ip(left, "link", "add", left_name, "type", "veth", "peer", "name", right_name,
                "netns", right)
        self.ip(left, "link", "set", left_name, "up")
        self.ip(right, "link", "set", right_name, "up")

    def address(self, namespace: str, device: str, *addresses: str) -> None:
        for address in addresses:
            self.ip(namespace, "address", "add", address, "dev", device)

    def forwarding(self, namespace: str) -> None:
        run(namespace, "sysctl", "-qw", "net.ipv4.ip_forward=1",
            "net.ipv6.conf.all.forwarding=1")

    def masquerade(self, namespace: str, device: str) -> None:
        self.nft(namespace, f"table ip nat {{\n chain postrouting {{\n type nat hook "
                            f"postrouting priority srcnat; oifname \"{device}\" masquerade\n"
                            " }\n}\n")

    def nft(self, namespace: str, rules: str) -> None:
        done = subprocess.run(["ip", "netns", "exec", namespace, "nft", "-f", "-"],
                              input=rules, text=True, capture_output=True, timeout=WAIT)
        assert done.returncode == 0, f"nft: {done.stderr}"

    def move_wan(self, old: str, new: str) -> None:
        """The provider gives the router another WAN address (``ADDRESS/LENGTH``)."""
        self.ip(self.router, "address", "del", old, "dev", "wan")
        self.ip(self.router, "address", "add", new, "dev", "wan")
        self.ip(self.router, "route", "replace", "default", "via", INTERNET4)
        self.nft(self.router, "flush ruleset\n")
        self.masquerade(self.router, "wan")

    def popen(self, namespace: str, argv: list[str], name: str, **env: str) -> subprocess.Popen:
        with open(self.directory / f"{name}.log", "ab") as log:
            process = subprocess.Popen(["ip", "netns", "exec", namespace, *argv],
                                       env=child_env(**env), stdin=subprocess.DEVNULL,
                                       stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def log(self, name: str) -> str:
        path = self.directory / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def listening(self, namespace: str, host: str, port: int, udp: bool = False) -> bool:
        table = run(namespace, "ss", "-Hnl" + ("u" if udp else "t"))
        return any(f"{host}:{port} " in line or f"[{host}]:{port} " in line
                   for line in table.splitlines())

    # -- the services --------------------------------------------------------------
    def start_echo(self) -> None:
        """nginx answering the asker's address on the internet's side."""
        prefix = self.directory / "nginx"
        prefix.mkdir()
        liars = "\n        ".join(f'location = {path} {{ return 200 "{address}\\n"; }}'
                                   for path, address in LIARS.items())
        command = configure(prefix, f"""\
    server {{
        listen {INTERNET4}:80;
        listen [{INTERNET6}]:80;
        default_type text/plain;
        location = /ip {{ return 200 "$remote_addr\\n"; }}
        location = /json {{ default_type application/json;
                           return 200 '{{"ip": "$remote_addr", "country": "XX"}}'; }}
        location = /trace {{ return 200 "fl=7f1\\nh=echo.test\\nip=$remote_addr\\nts=1\\n"; }}
        {liars}
        location = /html {{ default_type text/html;
                           return 200 "<html><body>Access denied</body></html>\\n"; }}
        location = /forbidden {{ return 403; }}
    }}""", worker_connections=256, access_log=f"{prefix}/access.log")
        self.popen(self.internet, command, "nginx")
        wait_until(lambda: self.listening(self.internet, INTERNET4, 80), "nginx to listen")

    def echo_requests(self) -> int:
        """How many requests nginx answered so far."""
        path = self.directory / "nginx" / "access.log"
        return len(path.read_text().splitlines()) if path.exists() else 0

    def start_whoami(self) -> None:
        """PowerDNS with LUA records: myip.test A/AAAA and txt.myip.test TXT
        answer with the address the question came from."""
        directory = self.directory / "pdns"
        directory.mkdir()
        database = directory / "pdns.sqlite3"
        with sqlite3.connect(database) as db:
            db.executescript(SQLITE_SCHEMA.read_text())
            db.execute("INSERT INTO domains (name, type) VALUES ('test', 'NATIVE')")
            rows = [("test", "SOA", "ns.test. hostmaster.test. 1 3600 600 86400 60"),
                    ("test", "NS", "ns.test."), ("ns.test", "A", INTERNET4),
                    ("myip.test", "LUA", 'A "who:toString()"'),
                    ("myip.test", "LUA", 'AAAA "who:toString()"'),
                    ("txt.myip.test", "LUA", 'TXT "who:toString()"')]
            db.executemany("INSERT INTO records (domain_id, name, type, content, ttl, auth) "
                           "VALUES (1, ?, ?, ?, 60, 1)", rows)
        (directory / "pdns.conf").write_text(
            "launch=gsqlite3\n"
            f"gsqlite3-database={database}\n"
            f"local-address={INTERNET4}, {INTERNET6}\n"
            "local-port=53\n"
            "enable-lua-records=yes\n"
            f"socket-dir={directory}\n"
            "disable-syslog=yes\n"
            "loglevel=4\n")
        self.popen(self.internet, ["/usr/sbin/pdns_server", f"--config-dir={directory}",
                                   "--daemon=no", "--guardian=no", "--write-pid=no"], "pdns")
        wait_until(lambda: self.listening(self.internet, INTERNET4, 53, udp=True),
                   "PowerDNS to listen")

    def start_server(self) -> str:
        """chipmunk-server on the internet, user alice; its endpoint."""
        state = self.directory / "server-state"
        state.mkdir()
        config = self.directory / "server.ini"
        config.write_text(server_config(
            state, listen=f"{INTERNET4}:{SERVER_PORT}, [{INTERNET6}]:{SERVER_PORT}"))
        notify = NotifySocket(self.directory / "server-notify.sock")
        try:
            self.popen(self.internet, [sys.executable, "-m", "chipmunk.server.cli",
                                       "--config", str(config)], "server",
                       NOTIFY_SOCKET=str(notify.path))
            notify.wait_for("READY", "1")
        finally:
            notify.close()
        return f"http://{INTERNET4}:{SERVER_PORT}"

    def start_miniupnpd(self) -> None:
        """Debian's miniupnpd on the router: UPnP IGD and NAT-PMP on the LAN."""
        directory = self.directory / "miniupnpd"
        directory.mkdir()
        (directory / "miniupnpd.conf").write_text(
            "ext_ifname=wan\nlisting_ip=lan\n".replace("listing", "listening") +
            "http_port=0\nenable_natpmp=yes\nenable_upnp=yes\nsecure_mode=yes\n"
            f"uuid={uuid.uuid4()}\nsystem_uptime=yes\n"
            f"lease_file={directory}/leases\n"
            "allow 1024-65535 192.168.1.0/24 1024-65535\ndeny 0-65535 0.0.0.0/0 0-65535\n")
        self.popen(self.router, ["/usr/sbin/miniupnpd", "-d", "-f",
                                 str(directory / "miniupnpd.conf"), "-P",
                                 str(directory / "miniupnpd.pid")], "miniupnpd")
        wait_until(lambda: self.listening(self.router, "0.0.0.0", 1900, udp=True)
                   or "Listening for NAT-PMP" in self.log("miniupnpd"), "miniupnpd to listen")

    def start_natpmp_responder(self, address: str) -> None:
        """A consumer router's NAT-PMP that reports ``address`` (a reserved
        one, which Debian's miniupnpd would keep to itself)."""
        thread = threading.Thread(target=_respond_natpmp,
                                  args=(self.router, address, self.directory / "natpmp.ready"),
                                  daemon=True)
        thread.start()
        wait_until((self.directory / "natpmp.ready").exists, "the NAT-PMP stand-in")

    # -- the client ----------------------------------------------------------------
    def client(self, config: Path, *args: str) -> subprocess.CompletedProcess:
        """``chipmunk-client --config CONFIG ARGS`` at home."""
        return subprocess.run(["ip", "netns", "exec", self.home, sys.executable, "-m",
                               "chipmunk.client.cli", "--config", str(config), *args],
                              env=child_env(), capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)

    def close(self) -> None:
        for process in self.processes:
            stop_process(process)
        for namespace in self.namespaces:
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True,
                           timeout=WAIT)
        shutil.rmtree(self.hosts_dir, ignore_errors=True)


def _respond_natpmp(namespace: str, address: str, ready: Path) -> None:
    """Answer NAT-PMP public-address requests on the router's LAN side."""
    with open(f"/run/netns/{namespace}") as handle:
        _setns(handle.fileno())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("192.168.1.1", 5351))
        ready.touch()
        while True:
            request, peer = sock.recvfrom(64)
            if request[:2] == b"\x00\x00":
                sock.sendto(struct.pack("!BBHI", 0, 128, 0, 1)
                            + ipaddress.IPv4Address(address).packed, peer)


def _setns(fd: int) -> None:
    """Move the calling thread into the network namespace ``fd`` (setns(2))."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
        raise OSError(ctypes.get_errno(), "setns")
