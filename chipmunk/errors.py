"""What can go wrong while discovering an address or updating DNS.

Each failure says what it means, not how a program should end: whether
retrying can help, and if not, what a person has to fix.  That decides
everything downstream -- whether the daemon backs off and retries or waits
for a person, what the state file remembers -- and the command line alone
turns the kind of failure into an exit code (:func:`chipmunk.cli.exit_code_for`).
A provider author raises these and nothing else.
"""
from __future__ import annotations

from typing import Self


class UpdateError(Exception):
    """A failure talking to the chipmunk server or a DNS provider."""

    #: retrying later may help
    temporary = False

    def with_hint(self, hint: str) -> Self:
        """The same failure with advice appended to its message."""
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.args = (f"{self}{hint}",)
        return clone


class TemporaryError(UpdateError):
    """Network trouble, timeouts, 5xx, 429: worth retrying later.

    ``retry_after``: the peer asked to wait at least this many seconds.
    """

    temporary = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(UpdateError):
    """Retrying cannot help until a person acts (or the config changes).

    Raise one of the subclasses when the cause is known.
    """


class Misconfigured(PermanentError):
    """The configuration is wrong: a zone the service does not have, a record
    that does not exist while ``create = no``, a command that is not there."""


class CredentialsRefused(PermanentError):
    """The token, key or password was refused, or lacks a permission."""


class RefusedByService(PermanentError):
    """The service understood the request and will not do it (abuse block,
    a paid feature, a client it does not accept)."""


class UntrustedPeer(PermanentError):
    """The peer could not be verified (TLS): talking to it would be unsafe."""
