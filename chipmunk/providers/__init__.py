"""DNS providers: the registry of built-in, plugin and dns-lexicon providers.

The contract a provider implements is in :mod:`chipmunk.providers.base`.
Built-in providers are listed in :data:`BUILTIN`; another package adds one
through the entry-point group ``chipmunk.providers``, e.g. in its
pyproject.toml::

    [project.entry-points."chipmunk.providers"]
    example = "chipmunk_example:ExampleProvider"

Any other name that dns-lexicon knows (``digitalocean``, ``hetzner``,
``powerdns``…) is served through :mod:`chipmunk.providers.lexicon_adapter`.
Only the providers a config uses are imported: a slow or broken plugin
touches no run that does not name it, and one that fails to load is named.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points

from ..config import ConfigError, Option, Schema, Section
from ..converters import list_of
from . import lexicon_adapter
from .base import (
    SHARED_OPTIONS,
    Change,
    Current,
    DNSProvider,
    Outcome,
    Record,
    to_hosts,
    to_record_types,
)

__all__ = ["BUILTIN", "SHARED_OPTIONS", "Change", "Current", "DNSProvider", "Outcome",
           "ProviderLoadError", "Record", "available", "is_known", "provider_class",
           "provider_listing", "provider_schema", "to_provider_names",
           "to_hosts", "to_record_types"]

ENTRY_POINT_GROUP = "chipmunk.providers"
BUILTIN = {"linode": "chipmunk.providers.linode:LinodeProvider",
           "hostsfile": "chipmunk.providers.hostsfile:HostsFileProvider",
           "rfc2136": "chipmunk.providers.rfc2136:RFC2136Provider",
           "cloudflare": "chipmunk.providers.cloudflare:CloudflareProvider",
           "dyndns2": "chipmunk.providers.dyndns2:DynDNS2Provider",
           "command": "chipmunk.providers.command:CommandProvider"}


class ProviderLoadError(LookupError):
    """A provider name nobody serves, or a provider that cannot be loaded."""


@functools.cache
def available() -> dict[str, str]:
    """Provider name -> "module:Class": built-in first, then entry points.

    Nothing is imported.  Cached: scanning the installed distributions'
    entry points costs a few milliseconds, and loading a config asks several
    times.
    """
    found = dict(BUILTIN)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry.name, entry.value)
    return found


def is_known(name: str) -> bool:
    """Whether ``name`` is a built-in or plugin provider or one of dns-lexicon's
    (without importing any of them)."""
    return name in available() or lexicon_adapter.has_provider(name)


def unknown_message(name: str) -> str:
    hint = ("" if lexicon_adapter.installed() else
            "; dns-lexicon is not installed, and it knows ~75 more DNS services "
            "(apt install python3-lexicon)")
    return (f"unknown provider {name!r} (built in: {', '.join(sorted(BUILTIN))}; "
            f"chipmunk-client providers lists them all{hint})")


def provider_name(name: str) -> str:
    if not is_known(name):
        raise ValueError(unknown_message(name))
    return name


#: ``[dDNS] provider`` on the client, ``[Publish] provider`` on the server
to_provider_names = list_of(provider_name, "providers", allow_empty=True)


def provider_section(name: str, names_from_requests: bool = False) -> Section:
    """A provider's section, declared by its class (imported now).

    ``names_from_requests`` (the server): ``host`` may be left out, since the
    record names come from the requests.
    """
    cls = provider_class(name)
    options = cls.section_options()
    if names_from_requests:
        options = tuple(_optional_names(option) if option.key == "host" else option
                        for option in options)
    return Section(name, options, help=cls.summary())


def _optional_names(option: Option) -> Option:
    convert = option.convert
    return dataclasses.replace(option, default="", convert=lambda text: (
        convert(text) if text.strip() else ()), help=option.help + (
        "\nNot needed on the server: the names come from the requests."))


def provider_schema(path: str, base: list[Section], names: tuple[str, ...],
                    section: str, names_from_requests: bool = False) -> Schema:
    """``base`` plus the sections of the providers ``names``; a provider that
    cannot be loaded is a ConfigError at ``[section] provider``."""
    try:
        return Schema([*base, *(provider_section(name, names_from_requests)
                                for name in names)])
    except ProviderLoadError as error:
        raise ConfigError(path, str(error), section, "provider") from None


@functools.cache
def provider_class(name: str) -> type[DNSProvider]:
    """The class serving ``name``, imported now; ProviderLoadError says why not."""
    where = available().get(name)
    if where is None:
        if lexicon_adapter.has_provider(name):
            try:
                return lexicon_adapter.provider_class(name)
            except Exception as error:
                raise ProviderLoadError(f"provider {name!r} (through dns-lexicon) cannot "
                                        f"be loaded: {type(error).__name__}: {error}") \
                    from error
        raise ProviderLoadError(unknown_message(name))
    module_name, _, class_name = where.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except Exception as error:  # a broken plugin: name it, whatever it raised
        raise ProviderLoadError(f"provider {name!r} ({where}) cannot be loaded: "
                                f"{type(error).__name__}: {error}") from error
    if not (isinstance(cls, type) and issubclass(cls, DNSProvider)):
        raise ProviderLoadError(f"provider {name!r} ({where}) is not a DNSProvider")
    problems = cls.contract_problems()
    if problems:
        raise ProviderLoadError(f"provider {name!r} ({where}) breaks the provider "
                                f"contract: {'; '.join(problems)}")
    return cls


@dataclass(frozen=True)
class ListedProvider:
    name: str
    #: built-in, plugin or lexicon
    source: str
    #: its section's keys, or why it cannot be loaded
    keys: str


def provider_listing() -> list[ListedProvider]:
    """Every provider a config may name, loaded to show its keys (slow: this
    imports every one of them; for ``chipmunk-client providers``)."""
    rows = []
    names = [*((name, "built-in") for name in sorted(BUILTIN)),
             *((name, "plugin") for name in sorted(available()) if name not in BUILTIN),
             *((name, "lexicon") for name in lexicon_adapter.provider_names()
               if name not in available())]
    for name, source in names:
        try:
            cls = provider_class(name)
        except ProviderLoadError as error:
            reason = error.__cause__ or error
            rows.append(ListedProvider(name, source, f"(cannot be loaded: {reason})"))
            continue
        keys = ", ".join(option.key for option in cls.section_options()
                         if option.in_use)
        rows.append(ListedProvider(name, source, keys))
    return rows
