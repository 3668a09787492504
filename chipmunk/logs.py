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
from collections.abc import Iterable

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
