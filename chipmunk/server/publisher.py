"""Publishing accepted addresses to the ``[Publish]`` providers, or the state.

Each hostname goes to every publishing provider whose zone holds it (``check``
refuses a hostname that no provider's zone holds).  A DDNS server's load is
routers re-sending the address DNS already has, every few minutes; asking
the provider each time cost a DNS read per request (a nochg reached 0.16 of
``/get/ip``'s rate) and spent hosted APIs' rate limits.  So:

- **Known state.** What each provider last confirmed for a record -- read
  from it, or written to it -- is kept in the state directory
  (:class:`~.hostnames.KnownState`, shared by the workers, kept across
  restarts).  A repeated address is ``nochg`` from it without a call, for
  ``[Publish] recheck`` seconds; then the provider is read again, so a
  change made behind the server's back is repaired.  A failed write forgets
  the record: the next request asks.  ``recheck = 0`` asks every time.  A
  provider that cannot read (``command``) is never asked: the known
  address decides, and is its ``CHIPMUNK_OLD_IP``.
- **One deadline.** The records of one request are published concurrently
  and the whole request waits at most ``[Publish] timeout``; what is not
  done by then is ``911`` (it may still finish, and then is known).
- **Circuit breaker.** After a provider fails temporarily (no answer, 5xx),
  it is not called for ``[Publish] backoff`` seconds: ``911`` at once,
  logged once.
- **Isolation.** At most half of a process's threads wait on providers
  (:class:`ProviderSeats`); a request past that waits for a seat only
  while the providers answer quickly, else gets ``911`` at once, so
  ``/get/ip`` and logins are answered while DNS is down.
"""
from __future__ import annotations

import concurrent.futures
import enum
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import ConfigError
from ..errors import Misconfigured, TemporaryError, UpdateError
from ..logs import Summarized
from ..providers import Change, DNSProvider, Record, provider_class
from . import metrics
from .hostnames import ChangeLog, HostnameStore, Known, KnownState, known_name
from .readcache import ReadCache
from .settings import ServerSettings

log = logging.getLogger(__name__)


class Published(enum.Enum):
    """What publishing one hostname came to, as dyndns2 answers it."""

    GOOD = "good"      # a record changed and was published
    NOCHG = "nochg"    # every record already held the address
    FAILED = "911"     # a provider failed: try again later


def build_publishers(settings: ServerSettings) -> list[DNSProvider]:
    """The ``[Publish]`` providers, built; a section a provider refuses, or a
    hostname that no provider's zone holds, is a ConfigError.  ``check`` and
    the serving runtime both build them here."""
    started: list[DNSProvider] = []
    try:
        for name in settings.publish:
            try:
                started.append(provider_class(name)(settings.provider_values[name],
                                                    settings.timeout))
            except UpdateError as error:
                raise ConfigError(settings.path, str(error), name) from None
        for user, names in settings.hostnames.items():
            for hostname in names:
                if started and not any(provider.owns(hostname) for provider in started):
                    zones = ", ".join(f"[{p.name}] zone = {p.zone}" for p in started)
                    raise ConfigError(settings.path, f"{hostname} lies outside every "
                                      f"publishing provider's zone ({zones})",
                                      "Hostnames", user)
    except ConfigError:
        for provider in started:
            provider.close()
        raise
    return started


def check_publishers(settings: ServerSettings) -> None:
    """Build the publishers, as serving would, and close them again:
    ConfigError when they cannot be."""
    for provider in build_publishers(settings):
        provider.close()


@dataclass(frozen=True)
class _Job:
    """One record of one request, for one provider."""

    provider: DNSProvider
    hostname: str
    rtype: str
    address: str

    @property
    def record(self) -> Record:
        return Record(self.provider.name, self.hostname, self.rtype)


class _Breaker:
    """Open for ``backoff`` seconds after a temporary failure."""

    def __init__(self, backoff: float, clock: Callable[[], float]) -> None:
        self.backoff, self.clock = backoff, clock
        self.open_until = 0.0
        self._lock = threading.Lock()

    def allows(self) -> bool:
        return self.clock() >= self.open_until

    def failed(self) -> bool:
        """Open (again); True when it was closed: the caller logs it once."""
        with self._lock:
            was_closed = self.clock() >= self.open_until
            self.open_until = self.clock() + self.backoff
        return was_closed and self.backoff > 0


class ProviderSeats:
    """Seats for the requests of one process that wait on providers.

    Half the threads, so the rest always serve ``/get/ip`` and logins.  A
    request that finds every seat taken waits for one only while the
    longest-running call is younger than ``quick`` (a local DNS server
    answers in a millisecond): seats then free in a moment, and a burst of
    updates is served, not refused.  Once calls hang (DNS down, a slow
    API), it gets none at once, and holds its thread no longer.
    """

    def __init__(self, seats: int, quick: float = 0.1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.seats, self.quick, self.clock = seats, quick, clock
        self._taken: dict[int, float] = {}
        self._tickets = itertools.count()
        self._changed = threading.Condition()

    def take(self, deadline: float) -> int | None:
        """A seat (give it back), or None: no seat before the calls turned slow."""
        with self._changed:
            while len(self._taken) >= self.seats:
                now = self.clock()
                slow_at = min(self._taken.values()) + self.quick
                if now >= slow_at or now >= deadline:
                    return None
                self._changed.wait(min(slow_at, deadline) - now)
            seat = next(self._tickets)
            self._taken[seat] = self.clock()
            return seat

    def give_back(self, seat: int) -> None:
        with self._changed:
            del self._taken[seat]
            self._changed.notify()


#: threads that publish the records of one request concurrently: one set per
#: process, not per configuration -- a reload must not shut them down while
#: requests that began before it still publish through the old publisher
POOL_THREADS = 8
_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def publishing_pool() -> concurrent.futures.ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(POOL_THREADS,
                                                          thread_name_prefix="publish")
        return _pool


class Publisher:
    def __init__(self, providers: Iterable[DNSProvider], state_dir: Path,
                 recheck: float = 0.0, timeout: float = 10.0, backoff: float = 0.0,
                 waiting: int = 2, clock: Callable[[], float] = time.time,
                 reads: ReadCache | None = None) -> None:
        """``waiting``: how many requests of this process may wait on providers;
        ``reads``: the known state this worker read, until any worker writes."""
        self.providers = tuple(providers)
        #: each provider's name in the known state
        self._names = {provider: known_name(provider) for provider in self.providers}
        self.known = KnownState(state_dir, reads)
        self.changes = ChangeLog(state_dir)
        self.recheck, self.timeout, self.clock = recheck, timeout, clock
        self._breakers = {provider.name: _Breaker(backoff, time.monotonic)
                          for provider in self.providers}
        self._seats = ProviderSeats(waiting)
        self._busy = Summarized(log, "{count} dyndns2 updates answered 911 in {seconds}s: "
                                "the DNS providers answer slowly, and every thread "
                                "allowed to wait on them (half of [Server] threads) "
                                "was waiting")

    @classmethod
    def for_settings(cls, settings: ServerSettings, reads: ReadCache | None = None
                     ) -> Publisher:
        started = build_publishers(settings)
        return cls(started or [HostnameStore(settings.state_dir)], settings.state_dir,
                   settings.recheck, settings.timeout, settings.backoff,
                   max(settings.threads // 2, 1), reads=reads)

    def close(self) -> None:
        """Close the providers (a request still using one reconnects)."""
        for provider in self.providers:
            provider.close()

    def reader_for(self, hostname: str) -> DNSProvider | None:
        """The provider whose record of ``hostname`` a person is shown: the
        first publisher whose zone holds it."""
        return next((provider for provider in self.providers if provider.owns(hostname)),
                    None)

    def known_for(self, hostname: str) -> dict[str, Known]:
        """Record type -> what the provider a person is shown (:meth:`reader_for`)
        last confirmed for ``hostname``; asks no provider."""
        provider = self.reader_for(hostname)
        if provider is None:
            return {}
        name = self._names[provider]
        return {rtype: known for (held_by, rtype), known in self.known.read(hostname).items()
                if held_by == name}

    def set_txt(self, hostname: str, name: str, values: list[str]) -> None:
        """Make ``values`` the TXT records of ``name`` at the provider whose
        zone holds ``hostname``; UpdateError when it cannot."""
        provider = self.reader_for(hostname)
        if provider is None:
            raise Misconfigured(f"no [Publish] provider holds {hostname}")
        provider.set_txt(name, values)
        log.info("%s: %s TXT now %s", provider.name, name,
                 ", ".join(values) if values else "(none)")

    def settled_until(self, hostnames: Sequence[str], addresses: dict[str, str]
                      ) -> float | None:
        """Until when (this publisher's clock) the known state answers every
        record of ``hostnames`` for ``addresses`` without asking a provider;
        None when one must be asked now."""
        until = math.inf
        for hostname in hostnames:
            known = self.known.read(hostname)
            for provider in self.providers:
                if not provider.owns(hostname):
                    continue
                for rtype, address in addresses.items():
                    entry = known.get((self._names[provider], rtype))
                    if entry is None or entry.address != address:
                        return None
                    if provider.readable:
                        if self.recheck <= 0:
                            return None
                        until = min(until, entry.confirmed + self.recheck)
        return until

    def publish(self, user: str, hostnames: Sequence[str],
                addresses: dict[str, str]) -> dict[str, Published]:
        """Bring each of ``hostnames`` (distinct) to ``addresses`` (record type
        -> address); a record type not in ``addresses`` is left alone."""
        jobs = {hostname: [_Job(provider, hostname, rtype, address)
                           for rtype, address in addresses.items()
                           for provider in self.providers if provider.owns(hostname)]
                for hostname in hostnames}
        known = {hostname: self.known.read(hostname) for hostname in hostnames}
        due = [job for hostname in hostnames for job in jobs[hostname]
               if not self._settled(job, known[hostname].get((self._names[job.provider],
                                                              job.rtype)))]
        outcomes = self._run(user, due, known) if due else {}
        results = {}
        for hostname in hostnames:
            mine = [outcomes.get(job, Change.UNCHANGED) for job in jobs[hostname]]
            if any(outcome is None for outcome in mine):
                results[hostname] = Published.FAILED
            elif changed := sorted({job.rtype for job, outcome in zip(jobs[hostname], mine,
                                                                       strict=True)
                                    if outcome in (Change.UPDATED, Change.CREATED)}):
                results[hostname] = Published.GOOD
                self._remember_change(hostname, changed)
            else:
                results[hostname] = Published.NOCHG
        return results

    def _settled(self, job: _Job, known: Known | None) -> bool:
        """Whether ``known`` answers ``job`` without asking its provider."""
        if known is None or known.address != job.address:
            return False
        if not job.provider.readable:
            return True  # it cannot be asked: what it was last given decides
        return self.recheck > 0 and self.clock() - known.confirmed < self.recheck

    def _run(self, user: str, due: list[_Job], known: dict[str, dict]
             ) -> dict[_Job, Change | None]:
        """Ask the providers for ``due``, concurrently, under one deadline;
        each job's change, None where it failed or is not done in time."""
        outcomes: dict[_Job, Change | None] = {}
        callable_jobs = []
        for job in due:
            if self._breakers[job.provider.name].allows():
                callable_jobs.append(job)
            else:
                outcomes[job] = None
                metrics.METRICS.published(job.provider.name, ok=False)
        if not callable_jobs:
            return outcomes
        deadline = time.monotonic() + self.timeout
        seat = self._seats.take(deadline)
        if seat is None:
            self._busy.happened()
            return {**outcomes, **dict.fromkeys(callable_jobs)}
        try:
            batches = self._batches(callable_jobs)
            if len(batches) == 1 and len(batches[0]) == 1:
                # One record: its provider's own timeout is the deadline, and
                # the request's thread makes the call (a hand-off to the pool
                # and back cost milliseconds under load: two GIL switches).
                return {**outcomes, **self._update(user, batches[0], known)}
            futures = {}
            for batch in batches:
                future = publishing_pool().submit(self._update, user, batch, known)
                futures[future] = batch
            done, late = concurrent.futures.wait(
                futures, timeout=max(deadline - time.monotonic(), 0))
            for future in late:
                future.cancel()
                for job in futures[future]:
                    outcomes[job] = None
                    log.warning("%s: no answer within [Publish] timeout = %gs; answered "
                                "911", job.record.key, self.timeout)
            for future in done:
                outcomes.update(future.result())
        finally:
            self._seats.give_back(seat)
        return outcomes

    @staticmethod
    def _batches(jobs: list[_Job]) -> list[list[_Job]]:
        """One batch per job, except a provider that takes one record at a time
        (lexicon): all its jobs in one batch, in one session with it."""
        batches: list[list[_Job]] = []
        serial: dict[str, list[_Job]] = {}
        for job in jobs:
            if job.provider.thread_safe:
                batches.append([job])
            else:
                serial.setdefault(job.provider.name, []).append(job)
        return batches + list(serial.values())

    def _update(self, user: str, batch: list[_Job], known: dict[str, dict]
                ) -> dict[_Job, Change | None]:
        provider = batch[0].provider
        outcomes: dict[_Job, Change | None] = {}
        with provider.session():
            for job in batch:
                context = {"CHIPMUNK_USER": user, "CHIPMUNK_HOSTNAME": job.hostname}
                before = known[job.hostname].get((self._names[provider], job.rtype))
                try:
                    outcome = provider.update(job.record, job.address, context=context,
                                              last_written=before.address if before else None)
                except UpdateError as error:  # logged by update(), with user and hostname
                    metrics.METRICS.published(provider.name, ok=False)
                    outcomes[job] = None
                    self._forget(job)
                    if isinstance(error, TemporaryError) and \
                            self._breakers[provider.name].failed():
                        log.warning("%s failed (%s): not called for %gs ([Publish] "
                                    "backoff); its updates are answered 911 meanwhile",
                                    provider.name, error, self._breakers[provider.name].backoff)
                    continue
                metrics.METRICS.published(provider.name, ok=True)
                outcomes[job] = outcome.change
                if self.recheck > 0 or before is None or before.address != job.address:
                    self._confirm(job)  # (recheck = 0 decides nothing by the time)
        return outcomes

    def _confirm(self, job: _Job) -> None:
        try:
            self.known.confirm(self._names[job.provider], job.hostname, job.rtype, job.address,
                               self.clock())
        except OSError as error:  # the next request asks the provider again
            log.warning("cannot note what %s holds in %s: %s", job.record.key,
                        self.known.files.directory, error.strerror or error)

    def _forget(self, job: _Job) -> None:
        try:
            self.known.forget(self._names[job.provider], job.hostname, job.rtype)
        except OSError as error:
            log.warning("cannot forget what %s held in %s: %s", job.record.key,
                        self.known.files.directory, error.strerror or error)

    def _remember_change(self, hostname: str, rtypes: list[str]) -> None:
        try:
            self.changes.record(hostname, rtypes, time.time())
        except OSError as error:  # only the status page misses it
            log.warning("cannot note the change of %s in %s: %s", hostname,
                        self.changes.files.directory, error.strerror or error)
