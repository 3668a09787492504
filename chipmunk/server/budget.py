"""A server-wide budget for password hashing: at most N hashes at once, shared fairly.

A failed login costs one scrypt (about 0.1 s of CPU); wrong passwords from
many addresses forced two cores of hashing and a logged-in user's p99 went
from 1 ms to 950 ms.  The budget bounds uncached verifications across every
worker process; cached logins never wait for it.

Who gets a slot when there are too few: refusing everyone past the budget
at once (as before) made a flood from 200 addresses shut out every fresh
login -- 0 of 9 legitimate ones got through, because the flood took each
freed slot first.  Now logins queue, fairly: each process has a
:class:`WaitingRoom` whose waiters are ordered by how many failures their
network has counted (fewest first, then oldest; a waiter falls back as
its network's count rises meanwhile), and only the first in line tries
for a slot.  A login the room has no place for is refused at
once -- unless its network has fewer failures than the worst waiter, whose
place it then takes.  A refusal counts for the network's lockout like a
failure (:mod:`.app`), so a flood's networks climb the count with every
request while a person, who tries once, stays at the front: after a
flood's first round a new user's login waits at most for the hash in
progress.  While anyone waits (announced server-wide), a login without a
place gets no slot even when one frees.  At most half a process's threads
wait, so waiting can never hold every thread.

A slot is an exclusive ``flock`` on a memfd created before the workers
fork; each attempt opens its own file description of it (a lock belongs to
a file description).  A waiter announces itself with a shared ``flock`` on
one more memfd, which an impatient request probes.  The kernel drops a
lock when its holder dies, so a worker killed in the middle of a hash or a
wait cannot leak a slot, as a semaphore in shared memory would.  ``flock``
has no timeout, so a waiter polls every ``POLL`` seconds (a hash takes a
hundred times longer).
"""
from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .sharedmemory import anonymous_file, own_description

#: how long a login from a network without failures may wait for a slot
PATIENCE = 1.5
POLL = 0.005


class HashBudgetExhausted(Exception):
    """No hashing slot for this request: refused now."""


class HashBudget:
    def __init__(self, slots: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.slots = slots
        self.clock = clock
        self._fds = [anonymous_file(f"chipmunk-hash-slot-{n}") for n in range(slots)]
        self._waiting = anonymous_file("chipmunk-hash-waiting")
        #: attempts refused because no slot was free (this process)
        self.refused = 0

    @contextlib.contextmanager
    def slot(self, patience: float = 0.0,
             turn: Callable[[], bool | None] = lambda: True) -> Iterator[None]:
        """Hold one slot for the ``with`` block; HashBudgetExhausted if none is
        had within ``patience`` seconds (0: now, and only when nobody is
        waiting).  While waiting, ``turn()`` says whether to try now (False:
        another comes first; None: give up, the place was taken)."""
        held = self._wait(patience, turn) if patience > 0 else \
            (None if self._someone_waits() else self._take())
        if held is None:
            self.refused += 1
            raise HashBudgetExhausted(f"all {self.slots} password hashing slots are busy")
        try:
            yield
        finally:
            os.close(held)  # closing the description releases the lock

    def _take(self) -> int | None:
        """A free slot's own locked description, or None."""
        for fd in self._fds:
            own = own_description(fd)
            if _try_flock(own, fcntl.LOCK_EX):
                return own
            os.close(own)
        return None

    def _wait(self, patience: float, turn: Callable[[], bool | None]) -> int | None:
        # Never a blocking flock here: the probes of impatient logins take
        # the lock exclusively thousands of times a second, and a blocked
        # shared request never got in (a thread held for good).
        announced = own_description(self._waiting)
        try:
            deadline = self.clock() + patience
            said = False
            while (now := turn()) is not None:
                said = said or _try_flock(announced, fcntl.LOCK_SH)
                if now and (held := self._take()) is not None:
                    return held
                if self.clock() >= deadline:
                    return None
                time.sleep(POLL)
            return None
        finally:
            os.close(announced)

    def _someone_waits(self) -> bool:
        probe = own_description(self._waiting)
        try:
            return not _try_flock(probe, fcntl.LOCK_EX)
        finally:
            os.close(probe)

    def close(self) -> None:
        for fd in [*self._fds, self._waiting]:
            os.close(fd)
        self._fds = []


def _try_flock(fd: int, operation: int) -> bool:
    """Take ``operation`` (LOCK_SH, LOCK_EX) on ``fd`` if it can be had now."""
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@dataclass(order=True)
class Ticket:
    """A place in a waiting room: fewer failures first, then first come."""

    failures: int
    number: int
    network: str = field(compare=False)
    #: set when a login with fewer failures took this place
    evicted: bool = field(default=False, compare=False)


class WaitingRoom:
    """Who of this process is waiting for a hashing slot, in order: one login
    per network, at most ``capacity`` in all (the other threads serve on)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._waiting: list[Ticket] = []
        self._numbers = itertools.count()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def enter(self, network: str, failures: int) -> Iterator[Ticket | None]:
        """A place for ``network``'s login, or None: no place for it."""
        with self._lock:
            ticket: Ticket | None = Ticket(failures, next(self._numbers), network)
            if any(other.network == network for other in self._waiting):
                ticket = None
            elif len(self._waiting) >= self.capacity:
                worst = max(self._waiting)
                if failures < worst.failures:
                    worst.evicted = True
                    self._waiting.remove(worst)
                else:
                    ticket = None
            if ticket is not None:
                self._waiting.append(ticket)
        try:
            yield ticket
        finally:
            if ticket is not None:
                with self._lock:
                    if ticket in self._waiting:
                        self._waiting.remove(ticket)

    def failed(self, network: str) -> None:
        """``network`` had one more failure (or refusal) counted: its waiter,
        if any, falls back accordingly (a flood's network keeps asking while
        its first login waits)."""
        with self._lock:
            for ticket in self._waiting:
                if ticket.network == network:
                    ticket.failures += 1

    def turn(self, ticket: Ticket) -> bool | None:
        """Whether ``ticket`` is first in line (None: its place was taken)."""
        with self._lock:
            if ticket.evicted:
                return None
            return min(self._waiting) is ticket
