"""Kernel objects every worker process shares: memfds, their mappings, their locks.

The hashing budget, the lockout table and the login cache are made by the
supervisor before it forks, so every worker inherits the same memfds.  A
lock that must hold between processes is an ``flock``, and an ``flock``
belongs to an open file description: descriptors inherited across fork()
share their parent's, so each process (or each attempt) opens its own
through ``/proc/self/fd``.  The kernel drops a dead holder's lock, so a
worker killed while holding one never leaks it.
"""
from __future__ import annotations

import mmap
import os


def anonymous_file(name: str, size: int = 0) -> int:
    """A memfd of ``size`` bytes (zeros), closed on exec."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    if size:
        os.ftruncate(fd, size)
    return fd


def shared_memory(name: str, size: int) -> tuple[int, mmap.mmap]:
    """A memfd of ``size`` bytes and its shared mapping (pages are allocated
    only once touched)."""
    fd = anonymous_file(name, size)
    return fd, mmap.mmap(fd, size)


def own_description(fd: int) -> int:
    """A new open file description of ``fd``'s file, for a lock of its own."""
    return os.open(f"/proc/self/fd/{fd}", os.O_RDWR | os.O_CLOEXEC)
