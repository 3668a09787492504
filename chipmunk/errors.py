"""What can go wrong while discovering an address or updating DNS.

Each failure says whether retrying can help, because that decides everything
downstream: the exit code a timer run ends with (sysexits), whether the
daemon backs off and retries or waits for a person, and what the state file
remembers.
"""
from __future__ import annotations

from .cli import ExitCode


class UpdateError(Exception):
    """A failure talking to the chipmunk server or a DNS provider."""

    exit_code: int = ExitCode.SOFTWARE
    temporary = False


class TemporaryError(UpdateError):
    """Network trouble, timeouts, 5xx, 429: worth retrying later."""

    exit_code = ExitCode.TEMPFAIL
    temporary = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(UpdateError):
    """Retrying cannot help until a person acts (or the config changes)."""

    def __init__(self, message: str, exit_code: int = ExitCode.NOPERM) -> None:
        super().__init__(message)
        self.exit_code = exit_code
