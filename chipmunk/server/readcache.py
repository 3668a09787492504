"""Small state files a worker read, and the answers worked out from them,
kept until any worker writes one.

Every repeated dyndns2 update reads two small files: the known state of its
hostname and the user's ``.cm``.  Reading each costs an open, a read and a
close; a router repeats the same update every few minutes, and between two
writes the files do not change.  So each worker keeps what it read, and
every write by any worker (they all write through :meth:`ReadCache.wrote`)
puts a new random token into a few bytes of memory all workers share
(made by the supervisor before it forks, like the login cache).  A reader
takes the token before it reads the file: an entry is used only while the
token is unchanged, so a write that happened after the read invalidates
it.  A file changed by hand, outside the server, is read again after at
most ``max_age`` seconds.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from .sharedmemory import shared_memory

T = TypeVar("T")
TOKEN_BYTES = 8
#: entries kept per worker; a hostname and a user each take one
MAX_ENTRIES = 4096


class WriteToken:
    """A few shared bytes that change with every write of any worker."""

    def __init__(self) -> None:
        self._fd, self._map = shared_memory("chipmunk-writes", TOKEN_BYTES)
        self.bump()

    def current(self) -> bytes:
        return self._map[:TOKEN_BYTES]

    def bump(self) -> None:
        self._map[:TOKEN_BYTES] = os.urandom(TOKEN_BYTES)


class ReadCache:
    """What this process read, per path, while no worker wrote since."""

    def __init__(self, token: WriteToken, max_age: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.token = token
        self.max_age = max_age
        self.clock = clock
        self._entries: dict[str, tuple[bytes, float, object]] = {}
        self._lock = threading.Lock()

    def get(self, path: str, read: Callable[[str], T]) -> T:
        """``read(path)``, or what it returned before if still valid."""
        token = self.token.current()
        entry = self._entries.get(path)
        now = self.clock()
        if entry is not None and entry[0] == token and now - entry[1] < self.max_age:
            return entry[2]  # type: ignore[return-value]
        value = read(path)
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[path] = (token, now, value)
        return value

    def wrote(self) -> None:
        """A file was written (call after the write): every worker reads again."""
        self.token.bump()


class Replays:
    """The answers of updates that changed nothing, for their repetitions.

    A router repeats the same update (the same user, query and address) every
    few minutes, and between two writes of any worker its answer stays
    ``nochg``.  Such an answer is kept with the write token read before it
    was worked out (:class:`WriteToken`) and used again while the
    token is unchanged, for at most ``MAX_AGE`` seconds and never past the
    moment the known state stops answering for the provider (``recheck``).
    Only all-``nochg`` answers are kept: nothing else was logged for them.
    Nor are queries longer than a router's: a client adding junk parameters
    could otherwise make each entry as large as a request line.
    """

    MAX_AGE = 1.0
    MAX_ENTRIES = 4096
    #: at most this many characters of query: at most about 4 MiB per worker
    MAX_QUERY = 1024

    def __init__(self, token: WriteToken, clock: Callable[[], float]) -> None:
        self.token, self.clock = token, clock
        self._answers: dict[tuple[str, str, str], tuple[bytes, float, list[str]]] = {}

    def get(self, key: tuple[str, str, str]) -> list[str] | None:
        entry = self._answers.get(key)
        if entry is None or entry[0] != self.token.current() or self.clock() >= entry[1]:
            return None
        return entry[2]

    def keep(self, key: tuple[str, str, str], token: bytes, lines: list[str],
             until: float) -> None:
        if len(key[2]) > self.MAX_QUERY:
            return
        if len(self._answers) >= self.MAX_ENTRIES:
            self._answers.clear()
        self._answers[key] = (token, min(until, self.clock() + self.MAX_AGE), lines)
