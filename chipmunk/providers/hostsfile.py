"""A hosts-format file: ``ADDR name...`` lines for dnsmasq ``addn-hosts``,
Pi-hole, unbound or an /etc/hosts fragment.

The line that carries exactly our names with an address of the record's
family is ours; every other line (comments, other hosts, the other family)
is kept as it was.  The file is replaced atomically.
"""
from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from ..atomicfile import write_atomic
from ..cli import ExitCode
from ..config import Option
from ..converters import list_of, to_path
from ..errors import PermanentError
from . import DNSProvider, Record


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
    options = (
        Option("path", to_path, None, help=(
            "The hosts-format file to keep (created when missing).")),
        Option("names", to_names, None, help=(
            "Names that get the address, space-separated: home.lan home")),
    )

    def __init__(self, values: dict[str, Any], timeout: float) -> None:
        super().__init__(values, timeout)
        self.path: Path = values["path"]
        self.hostnames: tuple[str, ...] = values["names"]

    def names(self) -> list[str]:
        return [" ".join(self.hostnames)]

    def _lines(self) -> list[str]:
        try:
            return self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as error:
            raise PermanentError(f"hostsfile: cannot read {self.path}: {error}",
                                 ExitCode.CONFIG) from None

    def _is_ours(self, line: str, rtype: str) -> bool:
        fields = line.split("#", 1)[0].split()
        return (len(fields) > 1 and tuple(fields[1:]) == self.hostnames
                and _family(fields[0]) == rtype)

    def read(self, record: Record) -> str | None:
        for line in self._lines():
            if self._is_ours(line, record.rtype):
                return line.split()[0]
        return None

    def write(self, record: Record, address: str, exists: bool) -> None:
        ours = f"{address} {' '.join(self.hostnames)}"
        lines, placed = [], False
        for line in self._lines():
            if not self._is_ours(line, record.rtype):
                lines.append(line)
            elif not placed:  # our line keeps its place in the file
                lines.append(ours)
                placed = True
        if not placed:
            lines.append(ours)
        mode = self.path.stat().st_mode & 0o777 if self.path.exists() else 0o644
        try:
            write_atomic(self.path, ("\n".join(lines) + "\n").encode("utf-8"), mode)
        except OSError as error:
            raise PermanentError(f"hostsfile: cannot write {self.path}: "
                                 f"{error.strerror or error}", ExitCode.CONFIG) from None
