"""``chipmunk-client run``: the Type=notify daemon around the update cycle.

Signals only record what arrived (:class:`~chipmunk.signals.SignalInbox`);
this loop acts on them between checks.  All waiting is one wait on that
inbox with a timeout, which also returns when the kernel reports a network
event (:mod:`.netwatch`, ``[Daemon] watch_network``): SIGTERM ends a wait at
once, a relevant network change starts a check after ``debounce`` seconds
(one check for a burst of events), and no other wake-up happens between
checks except the watchdog pings systemd asked for.
"""
from __future__ import annotations

import logging
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from .. import service
from ..cli import ExitCode
from ..service import Service
from ..signals import Request, SignalInbox
from ..systemd import Notifier
from .logfile import LogFile
from .netwatch import NetworkWatch
from .settings import ClientSettings, load_settings
from .updater import CycleResult, Updater

log = logging.getLogger(__name__)

SIGNALS: dict[int, Request] = {signal.SIGHUP: Request.RELOAD, signal.SIGTERM: Request.TERMINATE,
           signal.SIGINT: Request.TERMINATE, signal.SIGUSR1: Request.REOPEN_LOGS}
FIRST_RETRY = 15.0


class Backoff:
    """Exponential backoff with jitter for temporary failures, capped at ``cap``.

    The n-th consecutive failure waits between half and all of
    ``min(cap, first * 2**n)`` ("equal jitter"), so many clients that failed
    together do not retry together.  A peer's Retry-After is honoured even
    beyond the cap.
    """

    def __init__(self, cap: float, first: float = FIRST_RETRY,
                 rng: Callable[[], float] = random.random) -> None:
        self.cap, self.first, self.rng = cap, first, rng
        self.failures = 0

    def next_delay(self, retry_after: float | None = None) -> float:
        ceiling = min(self.cap, self.first * 2 ** self.failures)
        self.failures += 1
        delay = ceiling / 2 + self.rng() * ceiling / 2
        return max(delay, retry_after or 0.0)

    def reset(self) -> None:
        self.failures = 0


def status_text(result: CycleResult, delay: float, reason: str = "start") -> str:
    addresses = ", ".join(result.addresses[t] for t in ("A", "AAAA") if t in result.addresses)
    text = (f"Address {addresses or 'unknown'} (checked: {reason}); "
            f"next check in {_human(delay)}")
    if result.needs_attention:
        text += f"; {result.needs_attention} record(s) need attention"
    elif result.temporary or not result.addresses:
        text += " (retrying after a failure)"
    return text


def _human(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


@dataclass(frozen=True)
class Loaded(service.Loaded):
    """The client's settings and its updater, built once per load."""

    settings: ClientSettings
    updater: Updater


class ClientDaemon:
    def __init__(self, config_path: str, settings: ClientSettings,
                 notifier: Notifier | None = None,
                 rng: Callable[[], float] = random.random) -> None:
        self.config_path = config_path
        self.settings = settings
        self.notifier = notifier or Notifier()
        self.rng = rng
        self.backoff = Backoff(settings.interval, rng=rng)
        self.logfile = LogFile()
        self.updater = Updater(settings)
        self._status = "Checking the public address"
        self.watch: NetworkWatch | None = None
        #: why the next check runs, for STATUS=
        self.reason = "start"

    def run(self) -> int:
        service = Service(SignalInbox(SIGNALS), self.notifier, lambda: self._status)
        self.logfile.use(self.settings.logfile)
        self._watch_network(service)
        service.ready()
        try:
            while True:
                result = self.updater.cycle()
                if result.temporary or not result.addresses:
                    delay = self.backoff.next_delay(result.retry_after)
                else:
                    self.backoff.reset()
                    delay = self.settings.interval
                self.notifier.status(status_text(result, delay, self.reason))
                if self._wait(service, delay) is Request.TERMINATE:
                    break
        finally:
            service.stopping("Stopping")
            self._unwatch(service)
            self.updater.close()
            self.logfile.use(None)
        log.info("stopped")
        return ExitCode.OK

    def _watch_network(self, service: Service) -> None:
        """Subscribe to the kernel's network events as the settings say."""
        self._unwatch(service)
        if not self.settings.watch_network:
            return
        try:
            self.watch = NetworkWatch(self.settings.interfaces)
        except OSError as error:  # e.g. RestrictAddressFamilies without AF_NETLINK
            log.warning("cannot watch the network (%s): checking every [Daemon] interval "
                        "only", error.strerror or error)
            return
        service.inbox.watch(self.watch.fileno())
        log.info("watching the network (%s): a relevant change starts a check",
                 ", ".join(self.settings.interfaces) or "every interface")

    def _unwatch(self, service: Service) -> None:
        if self.watch is not None:
            service.inbox.unwatch(self.watch.fileno())
            self.watch.close()
            self.watch = None

    def _wait(self, service: Service, delay: float) -> Request | None:
        """Wait ``delay`` seconds, acting on every request as it comes: signals
        and network events.  A relevant network change shortens the wait to
        ``debounce`` (the rest of its burst is read meanwhile), then one check
        runs; TERMINATE and RELOAD end the wait at once."""
        self.reason = "interval"
        deadline = time.monotonic() + delay
        settling = False
        while (request := service.wait(deadline - time.monotonic())) is not None:
            if request is Request.TERMINATE:
                return request
            if request is Request.RELOAD:
                self._reload(service)
                return request  # check at once with the new configuration
            if request is Request.REOPEN_LOGS:
                self.logfile.reopen()
                log.info("reopened the log file")
            elif request is Request.READABLE and self.watch is not None:
                events = self.watch.relevant_events()
                if events and not settling:
                    settling = True
                    log.info("network change: %s; checking in %gs", events[0]
                             + (f" (and {len(events) - 1} more)" if len(events) > 1 else ""),
                             self.settings.debounce)
                    self.reason = f"network change: {events[0]}"
                    deadline = time.monotonic() + self.settings.debounce
        return None

    def _reload(self, service: Service) -> None:
        self._status = "Checking the public address"
        self.reason = "reload"
        service.reload(self._load, self._apply)
        self._watch_network(service)

    def _load(self) -> Loaded:
        settings = load_settings(self.config_path)
        return Loaded(settings, Updater(settings))

    def _apply(self, loaded: Loaded) -> str:
        settings = loaded.settings
        self.updater.close()
        self.settings, self.updater = settings, loaded.updater
        self.backoff.cap = settings.interval
        self.logfile.use(settings.logfile)
        return f"{len(settings.providers)} provider(s)"
