"""A server-wide budget for password hashing: at most N hashes at once.

A failed login costs one scrypt (about 0.1 s of CPU); wrong passwords from
many addresses forced two cores of hashing and a logged-in user's p99 went
from 1 ms to 950 ms.  The budget bounds uncached verifications across every
worker process: past it, a login is refused at once (503 with Retry-After)
without hashing, and cached logins never wait for it.

A slot is an exclusive ``flock`` on a memfd created before the workers
fork; each attempt opens its own file description of it through
``/proc/self/fd`` (a lock belongs to a file description, so inherited
descriptors would all share one).  The kernel drops a lock when its holder
dies, so a worker killed in the middle of a hash cannot leak a slot, as a
semaphore in shared memory would.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator


class HashBudgetExhausted(Exception):
    """Every hashing slot is taken: refuse now, do not queue."""


class HashBudget:
    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._fds = [os.memfd_create(f"chipmunk-hash-slot-{n}") for n in range(slots)]
        #: attempts refused because every slot was taken
        self.refused = 0

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the ``with`` block; HashBudgetExhausted if none is free."""
        for fd in self._fds:
            own = os.open(f"/proc/self/fd/{fd}", os.O_RDWR | os.O_CLOEXEC)
            try:
                fcntl.flock(own, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(own)
                continue
            try:
                yield
            finally:
                os.close(own)  # closing the description releases the lock
            return
        self.refused += 1
        raise HashBudgetExhausted(f"all {self.slots} password hashing slots are busy")

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds = []
