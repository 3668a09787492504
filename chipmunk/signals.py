"""Signals as requests for the main loop, shared by both programs.

A signal is only recorded as it arrives; the main loop takes the request
out and acts (reload, reopen logs, stop), so no real work ever runs inside
a signal handler.  Waiting on the inbox with a timeout is the programs' only
way to pass time: a signal ends the wait at once.

The wait is a poll() on a pipe that Python's C-level signal handler writes
the signal number into (:func:`signal.set_wakeup_fd`), not a wait on a lock
or queue that a Python-level handler fills.  Python runs its handlers only
between bytecodes of the main thread, so a signal arriving just before the
main thread blocks in a lock would sit unhandled until the wait timed out
(forever, for a wait without timeout): about one signal in 50,000 was lost
that way.  The byte in the pipe is written when the signal arrives, so the
poll() cannot miss it.  (The standard library's way to do this; asyncio's
signal support works the same.)
"""
from __future__ import annotations

import collections
import enum
import os
import select
import signal
import time


class Request(enum.Enum):
    """What a signal asks the main loop to do."""

    RELOAD = "reload"
    TERMINATE = "terminate"
    CHILD_EXITED = "child-exited"
    REOPEN_LOGS = "reopen-logs"
    #: not a signal: a descriptor given to SignalInbox.watch() has input
    READABLE = "readable"


def _record_nothing(_signum: int, _frame: object) -> None:
    """The Python-level handler: the wake-up pipe already holds the signal."""


class SignalInbox:
    """Signals turned into requests; the main loop takes them out in order.

    Only one inbox per process receives signals (the wake-up fd is
    process-wide); a forked child closes the inbox it inherited and makes
    its own.
    """

    def __init__(self, signals: dict[int, Request]) -> None:
        self._requests_by_signal = {int(signum): request for signum, request in signals.items()}
        self._requests: collections.deque[Request] = collections.deque()
        self._reader, self._writer = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._poll = select.poll()
        self._poll.register(self._reader, select.POLLIN)
        self._watched: set[int] = set()
        signal.set_wakeup_fd(self._writer, warn_on_full_buffer=False)
        for signum in self._requests_by_signal:
            signal.signal(signum, _record_nothing)

    def watch(self, fd: int) -> None:
        """Also end a wait when ``fd`` has input: wait() then returns READABLE
        (until the caller has read what is there), after any signal request."""
        self._poll.register(fd, select.POLLIN)
        self._watched.add(fd)

    def unwatch(self, fd: int) -> None:
        if fd in self._watched:
            self._poll.unregister(fd)
            self._watched.discard(fd)

    def wait(self, timeout: float | None) -> Request | None:
        """The next request, or None once ``timeout`` seconds passed without one."""
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0)
        while not self._requests:
            # poll() is retried after EINTR with the time left (PEP 475), so
            # it comes back empty only when that time is up.
            remaining = None if deadline is None else max(deadline - time.monotonic(), 0)
            ready = self._poll.poll(None if remaining is None else remaining * 1000)
            if not ready:
                return None
            self._take_arrived()
            if not self._requests and any(fd in self._watched for fd, _ in ready):
                return Request.READABLE
        return self._requests.popleft()

    def _take_arrived(self) -> None:
        while True:
            try:
                arrived = os.read(self._reader, 512)
            except BlockingIOError:
                return
            for signum in arrived:
                request = self._requests_by_signal.get(signum)
                if request is not None:
                    self._requests.append(request)

    def close(self) -> None:
        """Stop receiving: the signals get their default action back."""
        current = signal.set_wakeup_fd(-1)
        if current != self._writer:
            signal.set_wakeup_fd(current)  # not ours (any more): leave it
        for signum in self._requests_by_signal:
            signal.signal(signum, signal.SIG_DFL)
        os.close(self._reader)
        os.close(self._writer)
