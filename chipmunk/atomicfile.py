"""Crash-safe file replacement, used for every file Chipmunk writes.

A temporary file in the same directory is written, fsynced and renamed over
the target, then the directory is fsynced so the rename itself is durable.
A reader sees the old content or the new, never a torn or empty file.
A cache that may be lost in a crash (it is then rebuilt) is written
``durable=False``: replaced atomically all the same, without the two
fsyncs, which cost milliseconds each.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def write_atomic(path: str | os.PathLike, data: bytes, mode: int = 0o644,
                 durable: bool = True) -> None:
    target = Path(path)
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                     dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as temp:
            temp.write(data)
            temp.flush()
            os.fchmod(temp.fileno(), mode)
            if durable:
                os.fsync(temp.fileno())
        os.replace(temp_name, target)
    except BaseException:
        try:
            os.unlink(temp_name)
        except FileNotFoundError:
            pass
        raise
    if durable:
        fsync_directory(target.parent)


def fsync_directory(directory: str | os.PathLike) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def touch(path: str | os.PathLike) -> None:
    """Create ``path`` empty if missing and set its mtime to now."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.utime(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def directory_lock(directory: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive flock on ``directory`` itself: for a read, change and
    replace of a file in it by several processes (the server's workers), with
    no lock file left behind."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
