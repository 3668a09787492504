"""Everything that talks to systemd, in one place, degrading gracefully.

- :class:`Notifier`: sd_notify states through systemd-python; outside
  systemd (no ``NOTIFY_SOCKET``) every call is a cheap no-op.
- :func:`stderr_is_journal` and :func:`journal_handler`: whether stderr *is*
  the journal (``JOURNAL_STREAM`` names stderr's device and inode), and a
  handler that writes structured entries to it (:mod:`chipmunk.logs` decides).
- :func:`inherited_sockets`: sockets passed by socket activation.
"""
from __future__ import annotations

import logging
import os
import socket
import sys
import time
from pathlib import Path

from systemd import daemon, journal


class Notifier:
    """sd_notify with one method per state (READY, RELOADING, ...)."""

    def __init__(self, enabled: bool | None = None) -> None:
        """Enabled when systemd gave a NOTIFY_SOCKET, unless ``enabled`` says otherwise."""
        self.enabled = bool(os.environ.get("NOTIFY_SOCKET")) if enabled is None else enabled

    def _send(self, *assignments: str) -> None:
        """Send, never raise: a vanished notify socket must not stop the service."""
        if not self.enabled:
            return
        try:
            daemon.notify("\n".join(assignments))
        except OSError as error:
            logging.getLogger(__name__).warning(
                "cannot notify systemd (%s); not trying again", error)
            self.enabled = False

    def ready(self, status: str | None = None) -> None:
        self._send("READY=1", *([f"STATUS={status}"] if status else []))

    def reloading(self) -> None:
        monotonic_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self._send("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec}")

    def stopping(self, status: str | None = None) -> None:
        self._send("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> None:
        self._send(f"STATUS={text}")

    def watchdog(self) -> None:
        self._send("WATCHDOG=1")

    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings (half the timeout), None if unwanted."""
        if not self.enabled:
            return None
        usec = os.environ.get("WATCHDOG_USEC", "")
        pid = os.environ.get("WATCHDOG_PID", "")
        if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
            return None
        return int(usec) / 2_000_000


def inherited_sockets() -> list[socket.socket]:
    """Listening sockets passed by systemd socket activation (LISTEN_FDS).

    The variables are removed from ``os.environ`` too: sd_listen_fds() only
    unsets the C environment, and cheroot reads ``os.environ['LISTEN_PID']``
    to take fd 3 as an AF_INET socket, whatever it really is.
    """
    fds = daemon.listen_fds(unset_environment=True)
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)
    return [socket.socket(fileno=fd) for fd in fds]


def state_directory(default: str) -> Path:
    """Where a service keeps its state: the first directory systemd made for
    it (StateDirectory=, in $STATE_DIRECTORY), else ``default``."""
    return Path(os.environ.get("STATE_DIRECTORY", "").split(":")[0] or default)


def stderr_is_journal() -> bool:
    expected = os.environ.get("JOURNAL_STREAM", "")
    if not expected:
        return False
    try:
        stat = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return expected == f"{stat.st_dev}:{stat.st_ino}"


def journal_handler(identifier: str) -> logging.Handler:
    """A handler that writes to the journal with fields (``extra=``) as fields."""
    return journal.JournalHandler(SYSLOG_IDENTIFIER=identifier)
