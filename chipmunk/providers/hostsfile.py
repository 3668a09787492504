"""A hosts-format file: ``ADDR name...`` lines for dnsmasq ``addn-hosts``,
Pi-hole, unbound or an /etc/hosts fragment.

The client keeps one line for all of ``host``'s names (``ADDR a b``); a
record name given at call time (the server's hostnames) gets a line of its
own.  The line that carries exactly the record's names with an address of
the record's family is ours; every other line (comments, other hosts, the
other family) is kept as it was.  The file is replaced atomically.  The
original key ``names`` still works.
"""
from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from ..atomicfile import directory_lock, write_atomic
from ..config import Option
from ..converters import list_of, to_path
from ..errors import Misconfigured
from .base import Current, DNSProvider, Record


def host_name(name: str) -> str:
    if name.startswith("#") or not all(c.isalnum() or c in ".-_" for c in name):
        raise ValueError(f"{name!r} is not a host name")
    return name


to_names = list_of(host_name, "host names")


def _family(text: str) -> str | None:
    try:
        return "AAAA" if ipaddress.ip_address(text).version == 6 else "A"
    except ValueError:
        return None


class HostsFileProvider(DNSProvider):
    name = "hostsfile"
    #: a read, change and replace of one file: one at a time (and the
    #: server's worker processes take turns through a lock on the directory)
    thread_safe = False
    options = (
        Option("path", to_path, None, help=(
            "The hosts-format file to keep (created when missing).")),
        Option("host", to_names, None, aliases=("names",), help=(
            "Names that get the address, on one line: home.lan home")),
    )

    def __init__(self, values: dict[str, Any], timeout: float) -> None:
        super().__init__(values, timeout)
        self.path: Path = values["path"]

    def names(self) -> list[str]:
        return [" ".join(self.values["host"])]

    def _lines(self) -> list[str]:
        try:
            return self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as error:
            raise Misconfigured(f"hostsfile: cannot read {self.path}: {error}") from None

    @staticmethod
    def _is_ours(line: str, record: Record) -> bool:
        fields = line.split("#", 1)[0].split()
        return (len(fields) > 1 and fields[1:] == record.name.split()
                and _family(fields[0]) == record.rtype)

    def read(self, record: Record) -> Current:
        for line in self._lines():
            if self._is_ours(line, record):
                return Current(line.split()[0])
        return Current(None)

    def write(self, record: Record, address: str, current: Current) -> None:
        try:
            with directory_lock(self.path.parent):
                self._replace_line(record, f"{address} {record.name}")
        except OSError as error:
            raise Misconfigured(f"hostsfile: cannot write {self.path}: "
                                f"{error.strerror or error}") from None

    def _replace_line(self, record: Record, ours: str) -> None:
        lines, placed = [], False
        for line in self._lines():
            if not self._is_ours(line, record):
                lines.append(line)
            elif not placed:  # our line keeps its place in the file
                lines.append(ours)
                placed = True
        if not placed:
            lines.append(ours)
        mode = self.path.stat().st_mode & 0o777 if self.path.exists() else 0o644
        write_atomic(self.path, ("\n".join(lines) + "\n").encode("utf-8"), mode)
