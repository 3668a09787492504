"""Every DNS API that dns-lexicon knows, as a Chipmunk provider.

``[dDNS] provider = digitalocean`` (or hetzner, gandi, powerdns…) is served
here when the name is not a built-in provider.  The section takes
Chipmunk's ``zone``, ``host``, ``ttl``, ``create`` and ``record_types`` plus
the lexicon provider's own options under lexicon's names with underscores
(``auth_token``, ``pdns_server``); every option whose name says it is a
token, key, password or secret may come from ``<key>_file`` or a systemd
credential and is never shown.

Works with Debian 12's lexicon 3.11 (``lexicon.providers.NAME``,
``provider_parser()``) and PyPI's 3.2x (``lexicon._private.providers.NAME``,
``Provider.configure_parser()``); which DNS APIs there are, lexicon's own
discovery says (``find_providers()``).  What we guarantee on top of lexicon:

- The lexicon provider is built with the configured zone, never through
  lexicon's ``Client``, which runs tldextract: without a cached public
  suffix list that downloads one on every run (minutes when packets are
  dropped).  A lexicon provider that uses tldextract itself (namecheap,
  godaddy) gets it restricted to local lists and its bundled snapshot.
- Every HTTP request lexicon makes through requests is bounded by
  ``[ChipmunkAPIServer] timeout``: lexicon passes no timeout, and requests
  has no default one, so while a lexicon call runs on a thread,
  :func:`bounded_requests` fills in the missing timeout at requests'
  transport (HTTPAdapter.send) -- calls that give their own are untouched.
- ``ttl`` applies to every record written, and the whole A/AAAA set of a
  name is replaced: lexicon's ``create_record`` on an existing name would add
  a second address and keep the old ttl, so a name with one record of the
  right ttl is changed with ``update_record``, and otherwise its records are
  deleted and the address created afresh.
- Failures map onto :mod:`chipmunk.errors`: no answer is temporary; 401/403
  refuse the credentials; a zone the service does not have is a
  configuration error that names it.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import importlib.util
import sys
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from ..config import Option
from ..converters import to_text
from ..errors import (
    CredentialsRefused,
    Misconfigured,
    TemporaryError,
    UpdateError,
)
from ..http import status_error
from .base import Current, DNSProvider, Record

#: lexicon modules that are not a DNS API to configure: ``auto`` finds the
#: provider by asking the internet for the zone's name servers
NOT_PROVIDERS = {"__init__", "base", "auto"}
SECRET_WORDS = ("token", "password", "passwd", "secret", "key", "credential")
INSTALL_HINT = "apt install python3-lexicon, or pip install dns-lexicon"

_scope = threading.local()
_install_lock = threading.Lock()


def installed() -> bool:
    return importlib.util.find_spec("lexicon") is not None


@functools.cache
def _discovery() -> ModuleType | None:
    """lexicon's own provider discovery: ``lexicon.discovery`` (3.11, Debian
    12) or ``lexicon._private.discovery`` (3.2x); None without lexicon."""
    for name in ("lexicon.discovery", "lexicon._private.discovery"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


@functools.cache
def provider_names() -> tuple[str, ...]:
    """The DNS APIs the installed lexicon knows, as lexicon finds them (asked
    only for a name that is no built-in provider, once per process)."""
    discovery = _discovery()
    if discovery is None:
        return ()
    return tuple(sorted(set(discovery.find_providers()) - NOT_PROVIDERS))


def version() -> str | None:
    """The installed dns-lexicon's version, when it is installed."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as distribution_version
    try:
        return distribution_version("dns-lexicon")
    except PackageNotFoundError:
        return None


def has_provider(name: str) -> bool:
    return name in provider_names()


def load_module(name: str) -> ModuleType:
    discovery = _discovery()
    if discovery is None or name not in provider_names():
        raise LookupError(f"dns-lexicon does not know {name!r}"
                          + ("" if installed() else f" (it is not installed: {INSTALL_HINT})"))
    if hasattr(discovery, "load_provider_module"):  # 3.2x
        module = discovery.load_provider_module(name)
    else:
        module = importlib.import_module(f"lexicon.providers.{name}")
    _keep_tldextract_offline()
    return module


def _keep_tldextract_offline() -> None:
    """Local suffix lists and tldextract's bundled snapshot only: no download."""
    module = sys.modules.get("tldextract.tldextract")
    extractor = getattr(module, "TLD_EXTRACTOR", None)
    if extractor is not None:
        extractor.suffix_list_urls = tuple(url for url in extractor.suffix_list_urls
                                           if url.startswith("file:"))
        extractor.fallback_to_snapshot = True


def lexicon_options(module: ModuleType) -> list[tuple[str, str]]:
    """(option, help) for the provider's own options, as lexicon declares them."""
    parser = argparse.ArgumentParser(add_help=False)
    configure = getattr(getattr(module, "Provider", None), "configure_parser", None) \
        or module.provider_parser
    configure(parser)
    return [(action.dest, " ".join((action.help or "").split()))
            for action in parser._actions if action.dest not in ("help", None)]


def is_secret(option: str) -> bool:
    return any(word in option.lower() for word in SECRET_WORDS)


# -- bounded requests ------------------------------------------------------------

def _install_default_timeout() -> None:
    """Once per process: requests without a timeout get the calling thread's
    current bound, if it has one (only inside :func:`bounded_requests`)."""
    import requests.adapters
    with _install_lock:
        send = requests.adapters.HTTPAdapter.send
        if getattr(send, "_chipmunk_bounded", False):
            return

        @functools.wraps(send)
        def bounded_send(self, request, **kwargs):
            limit = getattr(_scope, "timeout", None)
            if limit is not None and kwargs.get("timeout") is None:
                kwargs["timeout"] = limit
            return send(self, request, **kwargs)

        bounded_send._chipmunk_bounded = True  # type: ignore[attr-defined]
        requests.adapters.HTTPAdapter.send = bounded_send  # type: ignore[assignment]


@contextlib.contextmanager
def bounded_requests(timeout: float) -> Iterator[None]:
    _install_default_timeout()
    previous = getattr(_scope, "timeout", None)
    _scope.timeout = timeout
    try:
        yield
    finally:
        _scope.timeout = previous


# -- the provider -----------------------------------------------------------------

class LexiconProvider(DNSProvider):
    """A DNS API through dns-lexicon (the class for each name is made by
    :func:`provider_class`)."""

    name = "lexicon"
    #: lexicon providers cache what they read (powerdns: the whole zone) and
    #: are not written for threads: one record at a time, re-read each time
    thread_safe = False
    shared = ("zone", "host", "ttl", "create")
    shared_defaults = {"ttl": "300", "create": "yes"}
    module: Any = None
    lexicon_keys: tuple[str, ...] = ()

    def __init__(self, values: dict[str, Any], timeout: float) -> None:
        super().__init__(values, timeout)
        self.lexicon = self._build()
        self._authenticated = False
        self._in_session = False

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """One lexicon provider for the records of one request: PowerDNS's
        fetches the whole zone on its first read and keeps it until it
        writes, so 20 names cost one zone fetch, not 20 (update() takes one
        record at a time: thread_safe is False)."""
        self._fresh()
        self._in_session = True
        try:
            yield
        finally:
            self._in_session = False

    def _fresh(self) -> None:
        """A new lexicon provider, if the current one has read anything."""
        if self._authenticated:
            self.close()
            self.lexicon, self._authenticated = self._build(), False

    def _build(self) -> Any:
        """A fresh lexicon provider: nothing cached from an earlier read."""
        from lexicon.config import ConfigResolver
        values = self.values
        options: dict[str, Any] = {}
        for key in self.lexicon_keys:
            if values.get(key):
                # lexicon reads some options with dashes (powerdns:
                # pdns-disable-notify), most with underscores: give both
                options[key] = options[key.replace("_", "-")] = values[key]
        config = ConfigResolver().with_dict({
            "provider_name": self.name, "domain": values["zone"],
            **({"ttl": values["ttl"]} if values["ttl"] is not None else {}),
            self.name: options})
        try:
            return self.module.Provider(config)
        except Exception as error:
            raise Misconfigured(f"{self.name} (dns-lexicon): {type(error).__name__}: "
                                f"{error}") from None

    @contextlib.contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        """Bound lexicon's requests; map what it raises onto our errors."""
        import requests
        try:
            with bounded_requests(self.timeout):
                yield
        except UpdateError:
            raise
        except requests.Timeout:
            raise TemporaryError(f"{self.name}: {what}: no answer within "
                                 f"{self.timeout:g}s") from None
        except requests.ConnectionError as error:
            raise TemporaryError(f"{self.name}: {what}: cannot reach the service: "
                                 f"{_first_line(error)}") from None
        except requests.HTTPError as error:
            raise self._refused(error.response, what) from None
        except Exception as error:
            if type(error).__name__ == "AuthenticationError":
                raise self._authentication_failed(error, what) from None
            raise

    def _refused(self, response: Any, what: str) -> UpdateError:
        status = getattr(response, "status_code", 0)
        text = " ".join((getattr(response, "text", "") or "").split())[:200]
        message = f"{self.name}: {what}: HTTP {status}: {text}"
        error = status_error(status, getattr(response, "headers", {}).get("Retry-After"),
                             f"{self.name}: {what}", f"HTTP {status}: {text}")
        if error is not None:  # the one table, shared with every HTTP provider
            return error
        if status in (404, 422) and not self._authenticated:
            return Misconfigured(f"{self.name}: the service has no zone "
                                 f"{self.values['zone']!r} ([{self.name}] zone): "
                                 f"HTTP {status}: {text}")
        return Misconfigured(message)

    def _authentication_failed(self, error: Exception, what: str) -> UpdateError:
        text = str(error) or "authentication failed"
        if any(word in text.lower() for word in ("domain", "zone")):
            return Misconfigured(f"{self.name}: {what}: {text} (zone "
                                 f"{self.values['zone']!r}, [{self.name}] zone)")
        return CredentialsRefused(f"{self.name}: {what}: {text}")

    def _authenticate(self) -> None:
        if not self._authenticated:
            with self._calling(f"opening zone {self.values['zone']}"):
                self.lexicon.authenticate()
            self._authenticated = True

    def read(self, record: Record) -> Current:
        if not self._in_session:  # a long-lived provider (the server's): read afresh
            self._fresh()
        self._authenticate()
        with self._calling(f"reading {record.name} {record.rtype}"):
            found = self.lexicon.list_records(rtype=record.rtype, name=record.name)
        ours = tuple(entry for entry in found
                     if str(entry.get("type", record.rtype)).upper() == record.rtype)
        if not ours:
            return Current(None, handle=())
        return Current(" ".join(sorted(str(entry["content"]) for entry in ours)),
                       handle=ours)

    def write(self, record: Record, address: str, current: Current) -> None:
        found: tuple[dict[str, Any], ...] = current.handle or ()
        if not found and not self.values["create"]:
            raise self.missing(record)
        ttl = self.values["ttl"]
        self._authenticate()
        with self._calling(f"writing {record.name} {record.rtype}"):
            if len(found) == 1 and found[0].get("id") and \
                    (ttl is None or found[0].get("ttl") == ttl):
                self.lexicon.update_record(found[0]["id"], record.rtype, record.name,
                                           address)
                return
            for entry in found:
                if entry.get("id"):
                    self.lexicon.delete_record(identifier=entry["id"])
                else:
                    self.lexicon.delete_record(rtype=record.rtype, name=record.name,
                                               content=entry["content"])
            self.lexicon.create_record(record.rtype, record.name, address)

    def write_txt(self, name: str, values: list[str]) -> None:
        """Delete the TXT records of ``name`` not in ``values``, create the
        missing ones (lexicon quotes some TXT contents: compared unquoted)."""
        self._fresh()
        self._authenticate()
        with self._calling(f"setting {name} TXT"):
            found = [entry for entry in self.lexicon.list_records(rtype="TXT", name=name)
                     if str(entry.get("type", "TXT")).upper() == "TXT"]
            held = {str(entry["content"]).strip('"'): entry for entry in found}
            for content, entry in held.items():
                if content in values:
                    continue
                if entry.get("id"):
                    self.lexicon.delete_record(identifier=entry["id"])
                else:
                    self.lexicon.delete_record(rtype="TXT", name=name,
                                               content=entry["content"])
            for value in values:
                if value not in held:
                    self.lexicon.create_record("TXT", name, value)

    def close(self) -> None:
        cleanup = getattr(self.lexicon, "cleanup", None)
        if cleanup is not None:
            cleanup()


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0][:200] if str(error) else type(error).__name__


def provider_class(name: str) -> type[DNSProvider]:
    """A provider class for lexicon's ``name``, with its options declared."""
    module = load_module(name)
    declared = lexicon_options(module)
    taken = {"zone", "host", "ttl", "create", "record_types"}
    options = tuple(Option(key, to_text, "", secret=is_secret(key), help=text or key)
                    for key, text in declared if key not in taken)
    return type(f"Lexicon_{name}", (LexiconProvider,), {
        "__doc__": f"{name} through dns-lexicon.",
        "__module__": __name__,
        "name": name, "module": module, "options": options,
        "lexicon_keys": tuple(option.key for option in options)})
