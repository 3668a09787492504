"""Signals as requests for the main loop, shared by both programs.

A handler only records what arrived; the main loop takes the request out
and acts (reload, reopen logs, stop), so no real work ever runs inside a
signal handler.  Waiting on the inbox with a timeout is the programs' only
way to pass time: a signal ends the wait at once.
"""
from __future__ import annotations

import queue
import signal

RELOAD, TERMINATE, CHILD_EXITED, REOPEN_LOGS = ("reload", "terminate", "child-exited",
                                                "reopen-logs")


class SignalInbox:
    """Signal handlers put requests here; the main loop takes them out."""

    def __init__(self, signals: dict[int, str]) -> None:
        self._queue: queue.SimpleQueue[str] = queue.SimpleQueue()
        for signum, request in signals.items():
            signal.signal(signum, lambda _signum, _frame, r=request: self._queue.put(r))

    def wait(self, timeout: float | None) -> str | None:
        """The next request, or None once ``timeout`` seconds passed without one."""
        try:
            return self._queue.get(timeout=None if timeout is None else max(timeout, 0))
        except queue.Empty:
            return None
