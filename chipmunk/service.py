"""One service lifecycle for both daemons: wait, ping the watchdog, reload.

chipmunk-server (each of its processes) and ``chipmunk-client run`` differ
only in what they do between waits; how they wait, keep systemd's watchdog
fed and bracket a reload is the same, so it is written here once:

- :meth:`Service.wait` is the programs' only way to pass time: it returns
  the next signal request at once, or None when the time is up, and pings
  the watchdog in between (no other wake-ups).
- :meth:`Service.reload` is the one reload bracket: ``RELOADING=1``, load
  the new configuration, apply it or refuse it with one message and one
  event (the old configuration keeps running), then ``READY=1`` with a
  fresh status.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from .config import ConfigError
from .events import Event, log_event
from .logs import log_warnings
from .signals import Request, SignalInbox
from .systemd import Notifier

log = logging.getLogger(__name__)


class Settings(Protocol):
    """What the lifecycle needs of either program's settings."""

    @property
    def path(self) -> str: ...

    @property
    def warnings(self) -> tuple[str, ...]: ...


SettingsT = TypeVar("SettingsT", bound=Settings)


@dataclass(frozen=True)
class Loaded:
    """A configuration loaded and what serving it needs built: what a
    reload's load() hands its apply() (each daemon adds its own parts)."""

    settings: Settings

    @property
    def path(self) -> str:
        return self.settings.path

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.settings.warnings


class Service:
    """The signal inbox and the notifier of one running daemon process."""

    def __init__(self, inbox: SignalInbox, notifier: Notifier,
                 status: Callable[[], str],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.inbox = inbox
        self.notifier = notifier
        #: what ``systemctl status`` should say now
        self.status = status
        self.clock = clock

    def ready(self) -> None:
        self.notifier.ready(self.status())

    def wait(self, timeout: float | None) -> Request | None:
        """The next request, or None once ``timeout`` seconds passed (None: never).

        Pings the watchdog at the interval systemd asked for.
        """
        deadline = None if timeout is None else self.clock() + timeout
        ping = self.notifier.watchdog_interval()
        while True:
            remaining = None if deadline is None else deadline - self.clock()
            if remaining is not None and remaining <= 0:
                return None
            steps = [step for step in (remaining, ping) if step is not None]
            request = self.inbox.wait(min(steps) if steps else None)
            if request is not None:
                return request
            if ping:
                self.notifier.watchdog()

    def reload(self, load: Callable[[], SettingsT],
               apply: Callable[[SettingsT], str]) -> bool:
        """Load and apply a new configuration, or keep the old one and say why.

        ``apply`` returns a summary for the log line ("3 users").  True when
        the new configuration is in use.  READY=1 follows whatever happens:
        an ``apply`` that fails (a bug) refuses the reload, logged with its
        traceback, and the previous configuration goes on serving, instead
        of leaving systemd waiting in "reloading" and the process dead.
        """
        self.notifier.reloading()
        accepted = False
        try:
            settings = load()
            log_warnings(settings.warnings)
            summary = apply(settings)
        except ConfigError as error:
            log_event(log, Event.RELOAD_FAILED, "reload refused, still running the "
                      f"previous configuration: {error}", level=logging.ERROR)
        except Exception as error:
            log.exception("reload failed while applying the new configuration")
            log_event(log, Event.RELOAD_FAILED, "reload refused, still running the "
                      f"previous configuration: {type(error).__name__}: {error}",
                      level=logging.ERROR)
        else:
            log_event(log, Event.RELOADED, f"reloaded {settings.path}: {summary}")
            accepted = True
        finally:
            self.ready()
        return accepted

    def stopping(self, status: str) -> None:
        self.notifier.stopping(status)
