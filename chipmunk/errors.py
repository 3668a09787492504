"""What can go wrong while discovering an address or updating DNS.

Each failure says whether retrying can help, because that decides everything
downstream: the exit code a timer run ends with (sysexits), whether the
daemon backs off and retries or waits for a person, and what the state file
remembers.
"""
from __future__ import annotations

EXIT_OK = 0
EXIT_UNAVAILABLE = 69   # EX_UNAVAILABLE: a peer we cannot use as configured (TLS)
EXIT_SOFTWARE = 70      # EX_SOFTWARE: a bug
EXIT_TEMPFAIL = 75      # EX_TEMPFAIL: try again later
EXIT_NOPERM = 77        # EX_NOPERM: credentials refused; a person must act
EXIT_CONFIG = 78        # EX_CONFIG: the configuration is wrong


class UpdateError(Exception):
    """A failure talking to the chipmunk server or a DNS provider."""

    exit_code = EXIT_SOFTWARE
    temporary = False


class TemporaryError(UpdateError):
    """Network trouble, timeouts, 5xx, 429: worth retrying later."""

    exit_code = EXIT_TEMPFAIL
    temporary = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(UpdateError):
    """Retrying cannot help until a person acts (or the config changes)."""

    def __init__(self, message: str, exit_code: int = EXIT_NOPERM) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def worst_exit_code(codes: list[int]) -> int:
    """One exit code for several outcomes: what needs a person wins over retries."""
    for code in (EXIT_CONFIG, EXIT_NOPERM, EXIT_UNAVAILABLE, EXIT_SOFTWARE, EXIT_TEMPFAIL):
        if code in codes:
            return code
    return EXIT_OK
