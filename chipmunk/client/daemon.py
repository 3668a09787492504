"""``chipmunk-client run``: the Type=notify daemon around the update cycle.

Signals only record what arrived (:class:`~chipmunk.signals.SignalInbox`);
this loop acts on them between checks.  All waiting is a wait on that inbox
with a timeout, so SIGTERM ends a wait at once and no wake-up happens
between checks except the watchdog pings systemd asked for.
"""
from __future__ import annotations

import logging
import random
import signal
import time
from typing import Callable

from .. import systemd
from .settings import ClientSettings, load_settings
from ..config import ConfigError
from .logfiles import LogFile
from ..signals import RELOAD, REOPEN_LOGS, TERMINATE, SignalInbox
from .updater import CycleResult, Updater

log = logging.getLogger("chipmunk.client")

SIGNALS = {signal.SIGHUP: RELOAD, signal.SIGTERM: TERMINATE, signal.SIGINT: TERMINATE,
           signal.SIGUSR1: REOPEN_LOGS}
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


def status_text(result: CycleResult, delay: float) -> str:
    addresses = ", ".join(result.addresses[t] for t in ("A", "AAAA") if t in result.addresses)
    text = f"Address {addresses or 'unknown'}; next check in {_human(delay)}"
    if result.needs_attention:
        text += f"; {result.needs_attention} record(s) need attention"
    elif result.temporary or not result.addresses:
        text += " (retrying after a failure)"
    return text


def _human(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


class ClientDaemon:
    def __init__(self, config_path: str, settings: ClientSettings,
                 notifier: systemd.Notifier | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 rng: Callable[[], float] = random.random) -> None:
        self.config_path = config_path
        self.settings = settings
        self.notifier = notifier or systemd.Notifier()
        self.clock = clock
        self.backoff = Backoff(settings.interval, rng=rng)
        self.logfile = LogFile()
        self.updater = Updater(settings)

    def run(self) -> int:
        inbox = SignalInbox(SIGNALS)
        self.logfile.use(self.settings.logfile)
        self.notifier.ready("Checking the public address")
        try:
            while True:
                result = self.updater.cycle()
                if result.temporary or not result.addresses:
                    delay = self.backoff.next_delay(result.retry_after)
                else:
                    self.backoff.reset()
                    delay = self.settings.interval
                self.notifier.status(status_text(result, delay))
                if self._wait(inbox, delay) == TERMINATE:
                    break
        finally:
            self.notifier.stopping("Stopping")
            self.updater.close()
            self.logfile.use(None)
        log.info("stopped")
        return 0

    def _wait(self, inbox: SignalInbox, delay: float) -> str | None:
        """Wait ``delay`` seconds, acting on signals; TERMINATE or RELOAD ends it."""
        deadline = self.clock() + delay
        ping = self.notifier.watchdog_interval()
        while (remaining := deadline - self.clock()) > 0:
            request = inbox.wait(min(remaining, ping) if ping else remaining)
            if request is None:
                if ping:
                    self.notifier.watchdog()
            elif request == TERMINATE:
                return TERMINATE
            elif request == REOPEN_LOGS:
                self.logfile.reopen()
                log.info("reopened the log file")
            elif request == RELOAD:
                self._reload()
                return RELOAD  # check at once with the new configuration
        return None

    def _reload(self) -> None:
        self.notifier.reloading()
        try:
            settings = load_settings(self.config_path)
            updater = Updater(settings)
        except ConfigError as error:
            log.error("reload refused, keeping the previous configuration: %s", error)
        else:
            self.updater.close()
            self.settings, self.updater = settings, updater
            self.backoff.cap = settings.interval
            self.logfile.use(settings.logfile)
            for warning in settings.warnings:
                log.warning("%s", warning)
            log.info("reloaded %s", self.config_path)
        self.notifier.ready("Checking the public address")
