"""A stand-in for journald: a real datagram socket speaking its native protocol.

libsystemd sends journal entries to the fixed path
``/run/systemd/journal/socket``.  The program under test runs in a private
mount namespace (``unshare -m``, root only) where our socket is bound over
that path, so the host's /run is never touched.  Entries are ``KEY=VALUE``
lines, or ``KEY\\n<64-bit little-endian length><bytes>\\n`` for values that
contain newlines.
"""
from __future__ import annotations

import os
import shlex
import socket
import struct
import subprocess
from pathlib import Path

from helpers import WAIT, child_env


def parse_entry(data: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    position = 0
    while position < len(data):
        newline = data.index(b"\n", position)
        line = data[position:newline]
        if b"=" in line:
            key, _, value = line.partition(b"=")
            position = newline + 1
        else:
            key = line
            (length,) = struct.unpack("<Q", data[newline + 1:newline + 9])
            value = data[newline + 9:newline + 9 + length]
            position = newline + 9 + length + 1
        fields[key.decode()] = value.decode("utf-8", "replace")
    return fields


class FakeJournal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory / "journal"
        self.directory.mkdir()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.directory / "socket"))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)

    def entries(self) -> list[dict[str, str]]:
        self.sock.settimeout(0.5)
        found = []
        while True:
            try:
                found.append(parse_entry(self.sock.recv(1 << 20)))
            except TimeoutError:
                return found

    def start(self, argv: list[str], stderr_path: Path, **env: str) -> subprocess.Popen:
        """Start ``argv`` with stderr "connected to the journal" (JOURNAL_STREAM)."""
        with open(stderr_path, "wb") as stderr:
            stat = os.fstat(stderr.fileno())
            script = ("mount -t tmpfs tmpfs /run/systemd && mkdir /run/systemd/journal && "
                      f"mount --bind {shlex.quote(str(self.directory))} "
                      "/run/systemd/journal && exec " + shlex.join(argv))
            return subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                env=child_env(JOURNAL_STREAM=f"{stat.st_dev}:{stat.st_ino}", **env),
                stderr=stderr, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)

    def run(self, argv: list[str], stderr_path: Path, **env: str) -> int:
        return self.start(argv, stderr_path, **env).wait(timeout=WAIT * 4)

    def close(self) -> None:
        self.sock.close()
