"""Logging for both programs: the journal when stderr is the journal, else
plain lines on stderr.

Structured fields are passed as ``extra={"CHIPMUNK_EVENT": ...}`` (see
:mod:`chipmunk.events`); the journal stores them as fields, the plain
formatter appends them as ``key=value`` so a person reading stderr sees them
too.  Config warnings go through :func:`log_warnings` in every command.
"""
from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable

from . import systemd

ROOT_LOGGER = "chipmunk"


def printable(text: str) -> str:
    """``text`` with every non-printable character escaped, and backslashes.

    A username or header is attacker-controlled: a raw newline in it would
    start a log line of the attacker's choosing on stderr, and terminal
    escapes would reach whoever reads the log.  ``\\n``, ``\\x1b`` and
    ``\\\\`` are shown instead; other characters (é, €) stay as they are.
    """
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(char if char.isprintable() and char != "\\"
                   else char.encode("unicode_escape").decode("ascii")
                   for char in text)


#: the longest message and field value a log line holds: a client's text in
#: it (a 15 KB ``myip``) must not make 15 KB lines
MAX_MESSAGE, MAX_FIELD = 2048, 512


def capped(text: str, limit: int) -> str:
    return text if len(text) <= limit else \
        f"{text[:limit]}... ({len(text) - limit} more characters)"


class EscapeUnprintable(logging.Filter):
    """Escapes and caps the message and every CHIPMUNK_* field of each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = capped(printable(record.getMessage()), MAX_MESSAGE), None
        for key, value in vars(record).items():
            if key.startswith("CHIPMUNK_") and isinstance(value, str):
                setattr(record, key, capped(printable(value), MAX_FIELD))
        return True


class PlainFormatter(logging.Formatter):
    """``LEVEL message key=value ...`` with the CHIPMUNK_* fields appended."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname.lower()}: {record.getMessage()}"
        fields = [f"{key[9:].lower()}={value}" for key, value in vars(record).items()
                  if key.startswith("CHIPMUNK_")]
        if fields:
            text += "  [" + " ".join(fields) + "]"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class Summarized:
    """A warning about something that may happen thousands of times a second
    (a flood's refused logins): one line at most every ``interval`` seconds,
    with how often it happened since the last one."""

    def __init__(self, logger: logging.Logger, message: str, interval: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``message`` is formatted with ``count`` and ``seconds``."""
        self.logger, self.message, self.interval, self.clock = logger, message, interval, clock
        self._lock = threading.Lock()
        self._count = 0
        self._since: float | None = None

    def happened(self) -> None:
        now = self.clock()
        with self._lock:
            self._count += 1
            if self._since is None:
                self._since = now - self.interval  # the first one is told at once
            if now - self._since < self.interval:
                return
            count, seconds = self._count, now - self._since
            self._count, self._since = 0, now
        self.logger.warning(self.message.format(count=count, seconds=f"{seconds:.0f}"))


def setup_logging(identifier: str, debug: bool = False) -> None:
    """Route the 'chipmunk' loggers to the journal or to stderr."""
    if systemd.stderr_is_journal():
        handler: logging.Handler = systemd.journal_handler(identifier)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(PlainFormatter())
    handler.addFilter(EscapeUnprintable())
    root = logging.getLogger(ROOT_LOGGER)
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    root.propagate = False


def log_warnings(warnings: Iterable[str]) -> None:
    """The config loader's warnings, one log line each."""
    log = logging.getLogger(ROOT_LOGGER)
    for warning in warnings:
        log.warning("%s", warning)
