"""The provider contract: what a provider author writes, and what the base does.

An author subclasses :class:`DNSProvider` and writes two hooks for one
record: :meth:`~DNSProvider.read` (the record's current address, and an
opaque ``handle`` such as the service's record id) and
:meth:`~DNSProvider.write` (which receives what ``read`` returned).  The
template method :meth:`~DNSProvider.update` -- compare before writing, dry
runs, the structured log events, wrapping any stray exception -- belongs to
the base and cannot be overridden: defining ``update`` in a subclass fails
when the class is created; a missing hook fails when the provider is loaded
(:meth:`DNSProvider.contract_problems`), not at its first update.

Failures are raised as :mod:`chipmunk.errors` kinds (``Misconfigured``,
``CredentialsRefused``, ``RefusedByService``, ``TemporaryError`` with an
optional ``retry_after``); the command line alone maps them to exit codes.

Options are declared without a section name (the section is the provider's
name).  The options many providers share -- ``zone``, ``host``, ``ttl``,
``create`` -- come from :data:`SHARED_OPTIONS` when named in ``shared``, and
``record_types`` comes with every provider.  ``host`` is the one key for the
names a provider keeps; a provider that used another spelling lists it in
``aliases`` so existing files load.
"""
from __future__ import annotations

import abc
import contextlib
import dataclasses
import enum
import logging
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, final

from ..config import Option
from ..converters import bounded_int, list_of, optional, to_bool, to_nonempty_text, to_text
from ..errors import Misconfigured, TemporaryError, UpdateError
from ..events import Event, log_event

log = logging.getLogger(__name__)

MAX_TTL = 2147483647


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


def record_fields(record: Record, address: str) -> dict[str, str]:
    """The journal fields of an event about ``record``."""
    return {"CHIPMUNK_PROVIDER": record.provider, "CHIPMUNK_RECORD": record.key,
            "CHIPMUNK_IP": address}


@dataclass(frozen=True)
class Current:
    """What :meth:`DNSProvider.read` found, handed on to :meth:`DNSProvider.write`.

    ``address`` is None when the record does not exist; for a provider that
    cannot read it is the address last written, when known.  ``handle`` is
    the provider's own business (a record id, the records found), so
    ``write`` never depends on state ``read`` hid in the instance.
    """

    address: str | None
    handle: Any = None


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


def record_type(text: str) -> str:
    if text.upper() not in ("A", "AAAA"):
        raise ValueError(f"{text!r}: expected A, AAAA, or A, AAAA")
    return text.upper()


to_record_types = list_of(record_type, "record types (A, AAAA)")
#: Names relative to the zone, comma- or space-separated; ``@`` is the apex.
to_hosts = list_of(to_text, "names relative to the zone, @ for the apex")


def to_zone(text: str) -> str:
    return to_nonempty_text(text).rstrip(".").lower()


RECORD_TYPES = Option("record_types", to_record_types, "A", help=(
    "Which records to keep: A (IPv4), AAAA (IPv6), or A, AAAA."))
SHARED_OPTIONS = {
    "zone": Option("zone", to_zone, None, help="The zone (domain) the names are in, "
                   "e.g. example.org."),
    "host": Option("host", to_hosts, "@", help=(
        "Names relative to the zone, comma-separated; @ for the zone itself.")),
    "ttl": Option("ttl", optional(bounded_int(0, MAX_TTL)), "", help=(
        "TTL in seconds of the records it writes; empty keeps the service's default.")),
    "create": Option("create", to_bool, "no", help=(
        "Create a record that does not exist yet.")),
}


class DNSProvider(abc.ABC):
    """Base class of every provider: subclasses write read() and write()."""

    #: the provider's name: its ``[dDNS] provider`` value and its section
    name: ClassVar[str]
    #: the provider's own keys (an option named like a shared one replaces it)
    options: ClassVar[tuple[Option, ...]] = ()
    #: which of SHARED_OPTIONS the section takes
    shared: ClassVar[tuple[str, ...]] = ("host",)
    #: other defaults for shared options, as raw text: {"ttl": "300"}
    shared_defaults: ClassVar[dict[str, str | None]] = {}
    #: older spellings of shared keys: {"zone": ("domain",)}
    aliases: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: False for protocols that cannot read a record (dyndns2, a command):
    #: every due update is then sent without comparing first
    readable: ClassVar[bool] = True
    #: False when one instance must not update two records at once (the
    #: server's threads share it): update() then takes them one at a time
    thread_safe: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "update" in cls.__dict__ or "_update" in cls.__dict__:
            raise TypeError(f"{cls.__qualname__} overrides DNSProvider.update(); write "
                            "read() and write() instead")

    @classmethod
    def contract_problems(cls) -> list[str]:
        """What keeps this class from being a usable provider (empty when none)."""
        problems = [f"{hook}() is not implemented"
                    for hook in sorted(getattr(cls, "__abstractmethods__", ()))]
        if cls.readable and cls.read is DNSProvider.read:
            problems.append("read() is not implemented (or set readable = False)")
        if not isinstance(getattr(cls, "name", None), str):
            problems.append("it has no name")
        return problems

    @classmethod
    def summary(cls) -> str:
        """One line on what the provider talks to: its docstring's first line
        (the class's, else its module's)."""
        doc = cls.__dict__.get("__doc__") or sys.modules[cls.__module__].__doc__ or cls.name
        return doc.strip().splitlines()[0]

    @classmethod
    def section_options(cls) -> tuple[Option, ...]:
        """Every key of this provider's section: its own, the shared ones it
        takes, and ``record_types``."""
        own = {option.key for option in cls.options}
        shared = tuple(dataclasses.replace(
            SHARED_OPTIONS[key], aliases=cls.aliases.get(key, ()),
            default=cls.shared_defaults.get(key, SHARED_OPTIONS[key].default))
            for key in cls.shared if key not in own)
        return (*shared, *cls.options, RECORD_TYPES)

    def __init__(self, values: dict[str, Any], timeout: float) -> None:
        """``values``: this provider's section, converted by its options."""
        self.values = values
        self.timeout = timeout
        self._one_at_a_time = contextlib.nullcontext() if self.thread_safe \
            else threading.Lock()

    @property
    def zone(self) -> str | None:
        """The zone every name lies in, when the provider has one."""
        return self.values.get("zone")

    def qualify(self, host: str) -> str:
        """A configured ``host`` as a fully qualified name (without the dot)."""
        host = host.rstrip(".")
        if self.zone is None:
            return host
        if host in ("@", ""):
            return self.zone
        return host if host.lower().endswith("." + self.zone) else f"{host}.{self.zone}"

    def names(self) -> list[str]:
        """The record names the configuration asks for, as a person reads them."""
        return [self.qualify(host) for host in self.values.get("host", ())]

    def owns(self, name: str) -> bool:
        """Whether ``name`` lies inside this provider's zone (any name, without one)."""
        if self.zone is None:
            return True
        name = name.rstrip(".").lower()
        return name == self.zone or name.endswith("." + self.zone)

    def read(self, record: Record) -> Current:
        """The record as the service has it: ``Current(None)`` when it does not exist."""
        raise NotImplementedError(f"{self.name} cannot read records")

    @abc.abstractmethod
    def write(self, record: Record, address: str, current: Current) -> None:
        """Point ``record`` at ``address``; ``current`` is what read() returned."""

    def write_txt(self, name: str, values: list[str]) -> None:
        """A hook: make ``values`` the TXT records of ``name`` (none: remove
        them), for ACME challenges; a provider that cannot hold TXT says so."""
        raise Misconfigured(f"{self.name} cannot hold TXT records; ACME challenges need "
                            "a provider that can (rfc2136, cloudflare, dns-lexicon's)")

    def set_txt(self, name: str, values: list[str]) -> None:
        """Make ``values`` the TXT records of ``name``, one call at a time
        where the provider needs it (as update())."""
        with self._one_at_a_time:
            self.write_txt(name, values)

    def close(self) -> None:  # a hook: most providers hold nothing to release
        """Release connections; called when a config is replaced."""
        return None

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:  # a hook: most providers read per record
        """A run of updates of one request that may share what the provider
        fetched (lexicon: one zone listing for every record); outside a
        session a long-lived provider reads afresh."""
        yield

    def missing(self, record: Record) -> Misconfigured:
        """The error for a record that does not exist while ``create = no``."""
        return Misconfigured(f"{self.name}: {record.name} has no {record.rtype} record; "
                             f"create it, or set [{self.name}] create = yes")

    @final
    def update(self, record: Record, address: str, dry_run: bool = False,
               force: bool = False, last_written: str | None = None,
               context: Mapping[str, str] | None = None) -> Outcome:
        """Bring ``record`` to ``address`` if it differs (or ``force``); log it.

        ``last_written`` is the address Chipmunk last set, for providers that
        cannot read; ``context`` adds journal fields (the server's user).
        Raises UpdateError on failure, after logging it; any other exception
        from a provider is a garbled answer and is reported as temporary.
        """
        fields = {**record_fields(record, address), **(context or {})}
        with self._one_at_a_time:
            return self._update(record, address, dry_run, force, last_written, fields)

    def _update(self, record: Record, address: str, dry_run: bool, force: bool,
                last_written: str | None, fields: dict[str, str]) -> Outcome:
        try:
            current = self.read(record) if self.readable else Current(last_written)
            if self.readable and current.address == address and not force:
                outcome = Outcome(record, Change.UNCHANGED)
            elif dry_run:
                outcome = Outcome(record, Change.WOULD_UPDATE)
            else:
                self.write(record, address, current)
                created = self.readable and current.address is None
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
        shown = current.address or ("(missing)" if self.readable else "(unknown)")
        if outcome.change is Change.UNCHANGED:
            log_event(log, Event.DNS_UNCHANGED, f"{record.key} already points to {address}",
                      fields)
        elif outcome.change is Change.WOULD_UPDATE:
            log.info("%s: would change %s to %s (dry run)", record.key, shown, address)
        else:
            old = {"CHIPMUNK_OLD_IP": current.address} if current.address else {}
            log_event(log, Event.DNS_UPDATED, f"{record.key} {outcome.change.value}: "
                      f"{shown} -> {address}", {**old, **fields})
        return outcome
