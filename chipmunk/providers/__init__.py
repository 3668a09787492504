"""DNS providers: a small base class, a registry, and the built-in plugins.

:class:`DNSProvider` (the original's name) owns what every provider shares,
in :meth:`DNSProvider.update`: compare before writing, dry runs, logging the
outcome as a structured event, and turning any failure into a
:mod:`chipmunk.errors` exception.  A provider writes only :meth:`read` and
:meth:`write` for one record, and declares its own config keys in
``options`` (its section is its name).

Built-in providers are listed in :data:`BUILTIN`; another package adds one
through the entry-point group ``chipmunk.providers``, e.g. in its
pyproject.toml::

    [project.entry-points."chipmunk.providers"]
    example = "chipmunk_example:ExampleProvider"
"""
from __future__ import annotations

import functools
import importlib
import logging
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, ClassVar

from .. import events
from ..config import Option
from ..errors import TemporaryError, UpdateError

log = logging.getLogger("chipmunk.client")

ENTRY_POINT_GROUP = "chipmunk.providers"
BUILTIN = {"linode": "chipmunk.providers.linode:LinodeProvider",
           "hostsfile": "chipmunk.providers.hostsfile:HostsFileProvider",
           "rfc2136": "chipmunk.providers.rfc2136:RFC2136Provider",
           "cloudflare": "chipmunk.providers.cloudflare:CloudflareProvider",
           "dyndns2": "chipmunk.providers.dyndns2:DynDNS2Provider"}


@dataclass(frozen=True)
class Record:
    """One DNS record a provider keeps: e.g. ``linode``, ``home.example.org``, ``A``."""

    provider: str
    name: str
    rtype: str

    @property
    def key(self) -> str:
        """The record's identity in the state file and in logs."""
        return f"{self.provider} {self.name} {self.rtype}"


@dataclass(frozen=True)
class Outcome:
    record: Record
    #: "updated", "created", "unchanged" or, in a dry run, "would-update"
    result: str


class DNSProvider:
    """Base class of every provider: subclasses implement read() and write()."""

    name: ClassVar[str]
    options: ClassVar[tuple[Option, ...]] = ()
    #: False for protocols that cannot read a record (dyndns2): every due
    #: update is then sent without comparing first
    readable: ClassVar[bool] = True

    def __init__(self, values: dict[str, Any], timeout: float) -> None:
        """``values``: this provider's section, converted by its ``options``."""
        self.values = values
        self.timeout = timeout

    def names(self) -> list[str]:
        """The record names this provider keeps, as a person reads them."""
        raise NotImplementedError

    def read(self, record: Record) -> str | None:
        """The record's current address, or None when it does not exist."""
        raise NotImplementedError(f"{self.name} cannot read records")

    def write(self, record: Record, address: str, exists: bool) -> None:
        """Point the record at ``address`` (creating it when not ``exists``)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections; called when a config is replaced."""

    def update(self, record: Record, address: str, dry_run: bool = False,
               force: bool = False) -> Outcome:
        """Bring ``record`` to ``address`` if it differs (or ``force``); log it.

        Raises UpdateError (TemporaryError or PermanentError) on failure, after
        logging it; any other exception from a provider is a garbled answer
        and is reported as temporary.
        """
        fields = events.record_fields(record, address)
        try:
            current = self.read(record) if self.readable else None
            if current == address and not force:
                outcome = Outcome(record, "unchanged")
            elif dry_run:
                outcome = Outcome(record, "would-update")
            else:
                self.write(record, address, exists=current is not None)
                created = current is None and self.readable
                outcome = Outcome(record, "created" if created else "updated")
        except UpdateError as error:
            events.log_event(log, "update-failed", f"{record.key}: {error}",
                             level=logging.ERROR, **fields)
            raise
        except Exception as error:
            wrapped = TemporaryError(f"{self.name}: unexpected answer: "
                                     f"{type(error).__name__}: {error}")
            events.log_event(log, "update-failed", f"{record.key}: {wrapped}",
                             level=logging.ERROR, **fields)
            raise wrapped from error
        shown = current or ("(missing)" if self.readable else "(unknown)")
        if outcome.result == "unchanged":
            events.log_event(log, "dns-unchanged", f"{record.key} already points to "
                             f"{address}", **fields)
        elif outcome.result == "would-update":
            log.info("%s: would change %s to %s (dry run)", record.key, shown, address)
        else:
            events.log_event(log, "dns-updated", f"{record.key} {outcome.result}: "
                             f"{shown} -> {address}",
                             **({"CHIPMUNK_OLD_IP": current} if current else {}), **fields)
        return outcome


def to_hosts(text: str) -> tuple[str, ...]:
    """Names relative to a zone, comma- or space-separated; ``@`` is the apex."""
    hosts = tuple(dict.fromkeys(text.replace(",", " ").split()))
    if not hosts:
        raise ValueError("expected one or more names relative to the zone, @ for the apex")
    return hosts


@functools.cache
def available() -> dict[str, str]:
    """Provider name -> "module:Class", built-in first, then entry points.

    Cached: scanning the installed distributions' entry points costs a few
    milliseconds, and loading a config asks several times.
    """
    found = dict(BUILTIN)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry.name, entry.value)
    return found


def provider_class(name: str) -> type[DNSProvider]:
    """The class registered as ``name``; KeyError lists the available ones."""
    where = available().get(name)
    if where is None:
        raise KeyError(f"unknown provider {name!r} (available: "
                       f"{', '.join(sorted(available()))})")
    module_name, _, class_name = where.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, DNSProvider)):
        raise KeyError(f"provider {name!r} ({where}) is not a DNSProvider")
    return cls
