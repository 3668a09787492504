"""The ``<username>.cm`` files that /set maintains, as the original did.

Each file holds one address and a newline.  It is rewritten only when the
address changed; then the empty ``updated`` flag file beside it is touched
so that other programs (cron jobs, path units) notice.
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from ..atomicfile import touch, write_atomic
from ..events import Event, log_event
from .readcache import ReadCache

log = logging.getLogger(__name__)

UPDATED_FLAG = "updated"
#: a state directory the server makes: the server's user and group only
STATE_DIR_MODE = 0o750


def state_dir_problem(directory: Path) -> str | None:
    """Why the server could not keep its files in ``directory``, or None.

    A missing directory is fine when it can be made (:func:`make_state_dir`
    at start): ``check`` says so before the first /set would fail."""
    existing = Path(directory)
    while not existing.exists():
        if existing.parent == existing:
            return "no part of the path exists"
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return (f"{existing} is not writable by this user" if existing == Path(directory)
                else f"it does not exist and {existing} is not writable to make it")
    return None


def make_state_dir(directory: Path) -> bool:
    """Make ``directory`` (and missing parents) when it is missing; True when
    made.  OSError names what failed."""
    try:
        Path(directory).mkdir(mode=STATE_DIR_MODE, parents=True)
    except FileExistsError:
        return False
    except OSError as error:
        raise OSError(error.errno, f"cannot make the state directory {directory} "
                      f"([Paths] client_update_dir): {error.strerror}") from None
    return True


class AddressBook:
    def __init__(self, directory: Path, reads: ReadCache | None = None) -> None:
        """``reads``: what this worker read, kept until any worker writes
        (None: every store reads the file)."""
        self.directory = Path(directory)
        self.reads = reads
        self._lock = threading.Lock()

    def path_for(self, username: str) -> str:
        # usernames are validated at config load; this guards the invariant.
        # (A string, not a Path: this runs for every /set and dyndns2 update.)
        if "/" in username or "\0" in username or username.startswith("."):
            raise ValueError(f"unsafe username {username!r}")
        return os.path.join(self.directory, f"{username}.cm")

    def read(self, username: str) -> str | None:
        return self._read(self.path_for(username))

    @staticmethod
    def _read(path: str) -> str | None:
        try:
            with open(path, encoding="ascii") as file:
                return file.read().strip() or None
        except (FileNotFoundError, UnicodeDecodeError):
            return None

    def store(self, username: str, address: str) -> bool:
        """Persist ``address``; True when it changed.  Raises OSError on failure."""
        path = self.path_for(username)
        with self._lock:
            held = self._read(path) if self.reads is None else self.reads.get(path, self._read)
            if held == address:
                return False
            try:
                write_atomic(path, f"{address}\n".encode("ascii"))
            finally:
                if self.reads is not None:
                    self.reads.wrote()
            touch(self.directory / UPDATED_FLAG)
        return True

    def remember(self, username: str, address: str, client: str) -> bool | None:
        """Store ``address`` for ``username`` and log it as /set and dyndns2 both
        do: True when it changed, False when not, None when it could not be saved.
        ``client`` is the address the request came from (for /set the same;
        for dyndns2 the one that claimed ``address``)."""
        fields = {"CHIPMUNK_USER": username, "CHIPMUNK_CLIENT_IP": client,
                  "CHIPMUNK_IP": address}
        try:
            changed = self.store(username, address)
        except (OSError, ValueError) as error:
            log_event(log, Event.SET_FAILED, f"cannot save the address of {username} to "
                      f"{self.directory}: {error}", fields, logging.ERROR)
            return None
        if changed:
            log_event(log, Event.ADDRESS_CHANGED, f"address of {username} is now {address}",
                      fields)
        return changed
