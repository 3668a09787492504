"""Publishing an accepted address: to the ``[Publish]`` providers, or the state.

Each hostname goes to every publishing provider whose zone holds it (``check``
refuses a hostname that no provider's zone holds).  Whether it changed is
decided by reading the record from the provider first -- DNS is the record
of truth, not this server's memory -- so several servers can publish to one
primary, and a request repeated after a failure publishes.
"""
from __future__ import annotations

import enum
import logging
import time
from collections.abc import Iterable
from pathlib import Path

from ..errors import UpdateError
from ..providers import Change, DNSProvider, Record
from . import metrics
from .hostnames import ChangeLog, HostnameStore
from .settings import ServerSettings, start_publishers

log = logging.getLogger(__name__)


class Published(enum.Enum):
    """What publishing one hostname came to, as dyndns2 answers it."""

    GOOD = "good"      # a record changed and was published
    NOCHG = "nochg"    # every record already held the address
    FAILED = "911"     # a provider failed: try again later


class Publisher:
    def __init__(self, providers: Iterable[DNSProvider], state_dir: Path) -> None:
        self.providers = tuple(providers)
        self.changes = ChangeLog(state_dir)

    @classmethod
    def for_settings(cls, settings: ServerSettings) -> Publisher:
        started = start_publishers(settings)
        return cls(started or [HostnameStore(settings.state_dir)], settings.state_dir)

    def close(self) -> None:
        for provider in self.providers:
            provider.close()

    def publish(self, user: str, hostname: str, addresses: dict[str, str]) -> Published:
        """Bring ``hostname``'s records to ``addresses`` (record type -> address);
        a record type not in ``addresses`` is left alone."""
        context = {"CHIPMUNK_USER": user, "CHIPMUNK_HOSTNAME": hostname}
        changed: list[str] = []
        failed = False
        for rtype, address in addresses.items():
            for provider in self.providers:
                if not provider.owns(hostname):
                    continue
                try:
                    outcome = provider.update(Record(provider.name, hostname, rtype), address,
                                              context=context)
                except UpdateError:  # logged by update(), with the user and hostname
                    metrics.METRICS.published(provider.name, ok=False)
                    failed = True
                    continue
                metrics.METRICS.published(provider.name, ok=True)
                if outcome.change in (Change.UPDATED, Change.CREATED):
                    changed.append(rtype)
        if changed:
            self._remember_change(hostname, changed)
        if failed:
            return Published.FAILED
        return Published.GOOD if changed else Published.NOCHG

    def _remember_change(self, hostname: str, rtypes: list[str]) -> None:
        try:
            self.changes.record(hostname, rtypes, time.time())
        except OSError as error:  # only the status page misses it
            log.warning("cannot note the change of %s in %s: %s", hostname,
                        self.changes.files.directory, error.strerror or error)
