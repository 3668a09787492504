"""One discovery-and-update cycle, shared by ``once`` and the daemon.

A record is updated when the address changed, when its last update failed,
when a forced refresh is due (``max_interval``) or on ``--force`` -- not
otherwise, so a timer run every few minutes calls no provider while nothing
changes.  A record whose provider said a person must act ("needs
attention") is left alone until its provider's configuration changes.
Nothing is marked updated unless the provider confirmed it.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..cli import ExitCode, exit_code_for, worst_exit_code
from ..config import ConfigError
from ..errors import PermanentError, TemporaryError, UpdateError
from ..events import Event, log_event
from ..http import HTTPClient
from ..providers import Change, DNSProvider, Record, provider_class
from . import metrics
from .chipmunkserver import server_client
from .discovery import Discovered, Discovery
from .settings import ClientSettings
from .state import ClientState, RecordResult, RecordState, StateStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CycleResult:
    #: record type -> address learned this cycle
    addresses: dict[str, str]
    exit_code: int
    #: a temporary failure happened: the daemon should retry soon
    temporary: bool
    #: the longest Retry-After a peer asked for
    retry_after: float | None
    needs_attention: int


def due_reason(record: RecordState, address: str, now: float, max_interval: float,
               fingerprint: str, force: bool) -> str | None:
    """Why ``record`` must be updated now, or None when it is up to date."""
    if force:
        return "forced"
    if record.result is RecordResult.NEEDS_ATTENTION:
        return ("its configuration changed" if record.config_fingerprint != fingerprint
                else None)
    if record.retry_not_before is not None and now < record.retry_not_before:
        return None
    if record.address != address:
        return "the address changed"
    if record.result is RecordResult.FAILED:
        return "the last update failed"
    if record.updated_at is None or now - record.updated_at >= max_interval:
        return "a refresh is due"
    return None


def start_providers(settings: ClientSettings) -> dict[str, DNSProvider]:
    """The providers the config names, built; a provider that refuses its
    section (a lexicon option it needs, dnspython missing) is a config error."""
    started: dict[str, DNSProvider] = {}
    for name in settings.providers:
        try:
            started[name] = provider_class(name)(settings.provider_values[name],
                                                 settings.timeout)
        except UpdateError as error:
            for provider in started.values():
                provider.close()
            raise ConfigError(settings.path, str(error), name) from None
    return started


class Updater:
    """Holds the providers and the server connection for one loaded config."""

    def __init__(self, settings: ClientSettings,
                 clock: Callable[[], float] = time.time,
                 discover: Callable[[ClientSettings, HTTPClient], Discovered] | None = None,
                 providers: Mapping[str, DNSProvider] | None = None) -> None:
        """``discover`` and ``providers`` default to the real ones: the sources
        and the providers the config names (tests pass their own)."""
        self.settings = settings
        self.store = StateStore(settings.state_dir)
        self.clock = clock
        self.web = server_client(settings)
        self.discovery = Discovery(settings, self.web)
        self.discover = discover or self.discovery
        self.providers: dict[str, DNSProvider] = dict(providers) if providers is not None \
            else start_providers(settings)

    def close(self) -> None:
        self.web.close()
        self.discovery.close()
        for provider in self.providers.values():
            provider.close()

    def records(self, addresses: dict[str, str]) -> list[tuple[DNSProvider, Record]]:
        """Every record a provider keeps for which this cycle knows an address.

        A record type without an address this cycle (IPv6 lost for a while)
        is left alone, never blanked.
        """
        return [(provider, Record(name, record_name, rtype))
                for name, provider in self.providers.items()
                for rtype in self.settings.provider_values[name]["record_types"]
                if rtype in addresses
                for record_name in provider.names()]

    def cycle(self, dry_run: bool = False, force: bool = False) -> CycleResult:
        state = self.store.load()
        now = self.clock()
        found = self.discover(self.settings, self.web)
        for error in found.errors:
            log.error("cannot learn the public address: %s", error)
        state.checked_at = now
        state.last_error = "; ".join(str(error) for error in found.errors) or None
        if not dry_run:
            state.count_sources(found.verdicts)
        codes = [exit_code_for(error) for error in found.errors]
        temporary = any(error.temporary for error in found.errors)
        retry_after = max((getattr(e, "retry_after", None) or 0.0 for e in found.errors),
                          default=0.0) or None
        for rtype, address in found.addresses.items():
            old = state.addresses.get(rtype)
            if address != old:
                log_event(log, Event.ADDRESS_CHANGED, f"public address is now {address}"
                          + (f" (was {old})" if old else ""),
                          {"CHIPMUNK_IP": address, **({"CHIPMUNK_OLD_IP": old} if old else {})})
                if not dry_run:
                    state.addresses[rtype], state.changed_at[rtype] = address, now
        result = self._update_records(state, found.addresses, now, dry_run, force)
        exit_code = worst_exit_code(codes + [result.exit_code])
        if not dry_run:
            self.store.save(state)
            self._write_metrics(state, exit_code)
        return CycleResult(found.addresses, exit_code, temporary or result.temporary,
                           max(retry_after or 0.0, result.retry_after or 0.0) or None,
                           result.needs_attention)

    def record_keys(self) -> list[str]:
        """Every record the configuration asks for, whatever this cycle learned."""
        return [record.key for _, record in self.records({"A": "", "AAAA": ""})]

    def _write_metrics(self, state: ClientState, exit_code: int) -> None:
        path = self.settings.metrics_file
        if path is None:
            return
        try:
            metrics.write(path, state, exit_code, self.record_keys())
        except OSError as error:  # the check itself went as it went
            log.warning("cannot write [Global] metrics_file %s: %s", path,
                        error.strerror or error)

    def _update_records(self, state: ClientState, addresses: dict[str, str], now: float,
                        dry_run: bool, force: bool) -> CycleResult:
        codes: list[int] = []
        retry_after: float | None = None
        temporary = False
        for provider, record in self.records(addresses):
            address = addresses[record.rtype]
            saved = state.record(record.key)
            fingerprint = self.settings.fingerprint(record.provider)
            reason = due_reason(saved, address, now, self.settings.max_interval,
                                fingerprint, force)
            if reason is None:
                if saved.result is RecordResult.NEEDS_ATTENTION:
                    log.debug("%s still needs attention: %s", record.key, saved.error)
                    codes.append(saved.exit_code or ExitCode.NOPERM)
                else:
                    log.debug("%s is up to date", record.key)
                continue
            log.debug("updating %s: %s", record.key, reason)
            try:
                outcome = provider.update(record, address, dry_run, force,
                                          last_written=saved.address)
            except TemporaryError as error:
                temporary = True
                codes.append(exit_code_for(error))
                if error.retry_after:
                    retry_after = max(retry_after or 0.0, error.retry_after)
                if not dry_run:
                    _failed(saved, now, str(error), error.retry_after)
                continue
            except PermanentError as error:
                code = exit_code_for(error)
                codes.append(code)
                if not dry_run:
                    _needs_attention(saved, now, str(error), fingerprint, code)
                log.error("%s needs attention: not retried until [%s] changes "
                          "(or chipmunk-client once --force)", record.key, record.provider)
                continue
            if not dry_run:
                saved.address, saved.updated_at, saved.attempted_at = address, now, now
                saved.result = (RecordResult.UNCHANGED if outcome.change is Change.UNCHANGED
                                else RecordResult.UPDATED)
                saved.error = saved.config_fingerprint = None
                saved.retry_not_before = saved.exit_code = None
                saved.failures = 0
        attention = sum(1 for _, record in self.records(addresses)
                        if state.record(record.key).result is RecordResult.NEEDS_ATTENTION)
        return CycleResult(addresses, worst_exit_code(codes), temporary, retry_after,
                           attention)


def _failed(saved: RecordState, now: float, error: str, retry_after: float | None) -> None:
    saved.result, saved.error, saved.attempted_at = RecordResult.FAILED, error, now
    saved.failures += 1
    saved.retry_not_before = now + retry_after if retry_after else None


def _needs_attention(saved: RecordState, now: float, error: str, fingerprint: str,
                     exit_code: int) -> None:
    saved.result, saved.error, saved.attempted_at = RecordResult.NEEDS_ATTENTION, error, now
    saved.config_fingerprint, saved.exit_code = fingerprint, exit_code
    saved.failures += 1
