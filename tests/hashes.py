"""Password hashes the tests can watch: real hashes that count their
derivations, or hold them until released (to pile up concurrent checks)."""
from __future__ import annotations

import threading

from chipmunk.server.auth import Authenticator
from chipmunk.server.passwords import PasswordHash
from helpers import WAIT


class CountingHash:
    """A real password hash that counts how often it is derived."""

    def __init__(self, hashed: PasswordHash) -> None:
        self.hashed, self.derivations = hashed, 0
        self.fingerprint = hashed.fingerprint

    def verify(self, password: bytes) -> bool:
        self.derivations += 1
        return self.hashed.verify(password)


def user(authenticator: Authenticator, header: str | None) -> str | None:
    return authenticator.check(header).user


class HeldHash(CountingHash):
    """Derives only once ``release`` is set, so concurrent checks pile up."""

    def __init__(self, hashed: PasswordHash) -> None:
        super().__init__(hashed)
        self.release = threading.Event()
        #: set once a check is inside verify (holding its hashing slot)
        self.entered = threading.Event()

    def verify(self, password: bytes) -> bool:
        self.entered.set()
        assert self.release.wait(WAIT)
        return super().verify(password)
