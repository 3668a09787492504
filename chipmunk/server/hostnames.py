"""Hostnames for dyndns2: how one is written, and where accepted addresses go
when the server publishes to no DNS provider.

Without ``[Publish]``, each accepted address is kept in the state directory,
one file per hostname: ``hostnames/<hostname>``, with a line per record
type, e.g.::

    A 192.0.2.7
    AAAA 2001:db8::7

The file is replaced atomically while the worker holds a lock on the
directory (the workers are processes), and the ``updated`` flag beside the
``.cm`` files is touched on each change, as ``/set`` does.

Whatever the providers, ``changes/<hostname>`` remembers when this server
last changed each record (``A 1764128400.5``, Unix time), and
``known/<hostname>`` what each provider last confirmed it holds, and when
(``rfc2136/A 192.0.2.7 1764128400.5``): the publisher answers a repeated
address from it, and the status page shows it.  The store is a
:class:`~chipmunk.providers.DNSProvider`, so "changed or not" is decided the
same way as for DNS: by reading first.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..atomicfile import directory_lock, touch, write_atomic
from ..converters import normalize_hostname
from ..errors import Misconfigured
from ..providers import Current, DNSProvider, Record
from .addressbook import UPDATED_FLAG
from .readcache import ReadCache

STORE_DIRECTORY = "hostnames"
CHANGES_DIRECTORY = "changes"
KNOWN_DIRECTORY = "known"
#: host names whose file path each HostnameFiles keeps (the config names them)
MAX_PATHS = 4096


class HostnameFiles:
    """A directory with a small file per hostname: ``KEY VALUE`` lines (the
    value is the rest of the line).

    Reading takes no lock (a file is replaced atomically, never torn);
    changing one takes a lock on the directory, because the server's
    workers are processes and a change merges into what another wrote.
    """

    def __init__(self, directory: Path, durable: bool = True) -> None:
        """``durable`` False: a cache, rebuilt if a crash loses it (no fsync)."""
        self.directory = Path(directory)
        self.durable = durable
        self._paths: dict[str, str] = {}

    def path(self, hostname: str) -> str:
        """A string, not a Path: this runs for every dyndns2 update (and the
        answer is kept: the names are the config's)."""
        path = self._paths.get(hostname)
        if path is None:
            if normalize_hostname(hostname) != hostname:  # also keeps it a plain file name
                raise ValueError(f"{hostname!r} is not a host name")
            path = os.path.join(self.directory, hostname)
            if len(self._paths) < MAX_PATHS:
                self._paths[hostname] = path
        return path

    def read(self, hostname: str) -> dict[str, str]:
        """Raises OSError (or ValueError, UnicodeDecodeError) when unreadable."""
        try:
            with open(self.path(hostname), encoding="ascii") as file:
                text = file.read()
        except FileNotFoundError:
            return {}
        pairs = (line.split(None, 1) for line in text.splitlines())
        return {pair[0]: pair[1].strip() for pair in pairs if len(pair) == 2}

    def merge(self, hostname: str, entries: Mapping[str, str | None]) -> None:
        """Set these keys (None: remove one), keep the others; raises OSError
        when it cannot."""
        self.change(hostname, lambda held: {**held, **entries})

    def change(self, hostname: str,
               change: Callable[[dict[str, str]], Mapping[str, str | None]]) -> None:
        """Replace what the file holds with ``change(what it holds)`` (a None
        value: no such line), under the directory's lock; OSError when it cannot."""
        self.directory.mkdir(mode=0o755, exist_ok=True)
        with directory_lock(self.directory):
            changed = change(self.read(hostname))
            text = "".join(f"{key} {changed[key]}\n" for key in sorted(changed)
                           if changed[key] is not None)
            write_atomic(self.path(hostname), text.encode("ascii"), durable=self.durable)


class HostnameStore(DNSProvider):
    """The state directory, as a provider the server publishes to by default."""

    name = "state"
    shared = ()

    def __init__(self, state_dir: Path) -> None:
        super().__init__({}, 0.0)
        self.state_dir = Path(state_dir)
        self.files = HostnameFiles(self.state_dir / STORE_DIRECTORY)

    def read(self, record: Record) -> Current:
        try:
            return Current(self.files.read(record.name).get(record.rtype))
        except (OSError, ValueError, UnicodeDecodeError) as error:
            raise Misconfigured(f"state: cannot read {record.name} in "
                                f"{self.files.directory}: {error}") from None

    def write(self, record: Record, address: str, current: Current) -> None:
        self._merge(record.name, {record.rtype: address})

    def write_txt(self, name: str, values: list[str]) -> None:
        """``TXT v1 v2`` in the name's file (``_acme-challenge.NAME``), for
        another program to serve."""
        self._merge(name, {"TXT": " ".join(values) or None})

    def _merge(self, name: str, entries: dict[str, str | None]) -> None:
        try:
            self.files.merge(name, entries)
            touch(self.state_dir / UPDATED_FLAG)
        except (OSError, ValueError) as error:
            raise Misconfigured(f"state: cannot write {self.files.directory}: "
                                f"{getattr(error, 'strerror', None) or error}") from None


class ChangeLog:
    """When this server last changed each record of a hostname (Unix time)."""

    def __init__(self, state_dir: Path) -> None:
        self.files = HostnameFiles(Path(state_dir) / CHANGES_DIRECTORY)

    def read(self, hostname: str) -> dict[str, float]:
        try:
            return {rtype: float(when) for rtype, when in self.files.read(hostname).items()}
        except (OSError, ValueError, UnicodeDecodeError):
            return {}

    def record(self, hostname: str, rtypes: list[str], when: float) -> None:
        """Raises OSError when it cannot write."""
        self.files.merge(hostname, dict.fromkeys(rtypes, f"{when:.1f}"))


@dataclass(frozen=True)
class Known:
    """What a provider last confirmed a record holds: read from it, or written."""

    address: str
    #: when (Unix time)
    confirmed: float


class KnownState:
    """The known address of each (provider, hostname, record type), in files
    every worker shares and a restart finds.  A record is forgotten after a
    failed or uncertain write, so the next request asks the provider.

    A provider is named by its name and a digest of its settings
    (``rfc2136@1a2b3c4d``, :func:`known_name`): after a reload that points it
    at another server or file, what the old one held is not believed.
    """

    def __init__(self, state_dir: Path, reads: ReadCache | None = None) -> None:
        """``reads``: what this worker read, kept until any worker writes
        (None: every read reads the file)."""
        # lost in a crash, it costs one read per record: not worth two fsyncs
        # on every confirmation
        self.files = HostnameFiles(Path(state_dir) / KNOWN_DIRECTORY, durable=False)
        self.reads = reads

    def read(self, hostname: str) -> dict[tuple[str, str], Known]:
        """(provider, record type) -> what is known; {} when nothing or
        unreadable.  The answer is shared: do not change it."""
        if self.reads is None:
            return self._read(hostname)
        try:
            path = self.files.path(hostname)
        except ValueError:
            return {}
        return self.reads.get(path, lambda _: self._read(hostname))

    def _read(self, hostname: str) -> dict[tuple[str, str], Known]:
        try:
            entries = self.files.read(hostname)
        except (OSError, ValueError, UnicodeDecodeError):
            return {}
        known = {}
        for key, value in entries.items():
            provider, _, rtype = key.partition("/")
            address, _, when = value.partition(" ")
            try:
                known[provider, rtype] = Known(address, float(when))
            except ValueError:
                continue  # a line of another version: as if unknown
        return known

    def confirm(self, provider: str, hostname: str, rtype: str, address: str,
                when: float) -> None:
        """Raises OSError when it cannot write.  The same provider's entries
        from other configurations go (they would only pile up)."""
        name, key = provider.partition("@")[0], f"{provider}/{rtype}"

        def confirmed(held: dict[str, str]) -> dict[str, str | None]:
            kept: dict[str, str | None] = {
                other: value for other, value in held.items()
                if not (other.partition("@")[0] == name and other.endswith(f"/{rtype}"))}
            kept[key] = f"{address} {when:.3f}"
            return kept
        try:
            self.files.change(hostname, confirmed)
        finally:
            self._wrote()

    def forget(self, provider: str, hostname: str, rtype: str) -> None:
        """Raises OSError when it cannot write."""
        try:
            self.files.merge(hostname, {f"{provider}/{rtype}": None})
        finally:
            self._wrote()

    def _wrote(self) -> None:
        if self.reads is not None:
            self.reads.wrote()


def known_name(provider: DNSProvider) -> str:
    """``provider`` in the known state: its name and a digest of its settings,
    secrets left out (a rotated key still writes to the same records)."""
    secret = {option.key for option in provider.section_options() if option.secret}
    settings = sorted((key, repr(value)) for key, value in provider.values.items()
                      if key not in secret)
    digest = hashlib.blake2b(repr(settings).encode("utf-8"), digest_size=4).hexdigest()
    return f"{provider.name}@{digest}"
