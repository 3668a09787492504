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

import enum
import functools
import importlib
import logging
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, ClassVar

from ..config import Option
from ..converters import list_of, to_text
from ..errors import TemporaryError, UpdateError
from ..events import Event, log_event, record_fields

log = logging.getLogger(__name__)

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


class Change(enum.Enum):
    """What an update did to a record."""

    UPDATED = "updated"
    CREATED = "created"
    UNCHANGED = "unchanged"
    WOULD_UPDATE = "would-update"  # a dry run


@dataclass(frozen=True)
class Outcome:
    record: Record
    change: Change


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
        fields = record_fields(record, address)
        try:
            current = self.read(record) if self.readable else None
            if current == address and not force:
                outcome = Outcome(record, Change.UNCHANGED)
            elif dry_run:
                outcome = Outcome(record, Change.WOULD_UPDATE)
            else:
                self.write(record, address, exists=current is not None)
                created = current is None and self.readable
                outcome = Outcome(record, Change.CREATED if created else Change.UPDATED)
        except UpdateError as error:
            log_event(log, Event.UPDATE_FAILED, f"{record.key}: {error}", fields,
                      logging.ERROR)
            raise
        except Exception as error:
            wrapped = TemporaryError(f"{self.name}: unexpected answer: "
                                     f"{type(error).__name__}: {error}")
            log_event(log, Event.UPDATE_FAILED, f"{record.key}: {wrapped}", fields,
                      logging.ERROR)
            raise wrapped from error
        shown = current or ("(missing)" if self.readable else "(unknown)")
        if outcome.change is Change.UNCHANGED:
            log_event(log, Event.DNS_UNCHANGED, f"{record.key} already points to {address}",
                      fields)
        elif outcome.change is Change.WOULD_UPDATE:
            log.info("%s: would change %s to %s (dry run)", record.key, shown, address)
        else:
            log_event(log, Event.DNS_UPDATED, f"{record.key} {outcome.change.value}: "
                      f"{shown} -> {address}",
                      {**({"CHIPMUNK_OLD_IP": current} if current else {}), **fields})
        return outcome


#: Names relative to a zone, comma- or space-separated; ``@`` is the apex.
to_hosts = list_of(to_text, "names relative to the zone, @ for the apex")


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
