"""Network namespaces the tests create: their own interfaces, addresses and
loopback, nothing of the machine's network (helpers for the tests that
need real kernel networking: address events, IPv6 source networks)."""
from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

from helpers import WAIT, child_env


def ip(*args: str, namespace: str | None = None) -> str:
    command = ["ip", *(("-n", namespace) if namespace else ()), *args]
    return subprocess.run(command, check=True, capture_output=True, text=True,
                          timeout=WAIT).stdout


class Namespace:
    """A network namespace with lo and a veth pair d0 <-> d0p, both up."""

    def __init__(self) -> None:
        self.name = f"chipmunk-{uuid.uuid4().hex[:8]}"
        ip("netns", "add", self.name)
        # no duplicate detection on new links (their link-local addresses are
        # final at once, so the namespace is quiet); a test may turn it on
        self.sysctl("net.ipv6.conf.default.accept_dad=0")
        self.ip("link", "set", "lo", "up")
        self.ip("link", "add", "d0", "type", "veth", "peer", "name", "d0p")
        self.ip("link", "set", "d0p", "up")
        self.ip("link", "set", "d0", "up")
        self.sysctl("net.ipv6.conf.d0.accept_ra=0")

    def ip(self, *args: str) -> str:
        return ip(*args, namespace=self.name)

    def sysctl(self, setting: str) -> None:
        self.run(["sysctl", "-qw", setting])

    def run(self, argv: list[str]) -> str:
        """Run ``argv`` inside; its standard output."""
        return subprocess.run(["ip", "netns", "exec", self.name, *argv], check=True,
                              capture_output=True, text=True, timeout=WAIT).stdout

    def popen(self, argv: list[str], stderr_path: Path, **env: str) -> subprocess.Popen:
        with open(stderr_path, "ab") as stderr:
            return subprocess.Popen(["ip", "netns", "exec", self.name, *argv],
                                    env=child_env(**env), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=stderr)

    def delete(self) -> None:
        ip("netns", "del", self.name)
