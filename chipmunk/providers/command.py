"""A program of your own, run when a record's address is due to change.

For the integrations nobody wrote a provider for: a firewall allowlist, a
WireGuard endpoint, a notification.  The program gets the record name, its
type and the new address as arguments, and in its environment
``CHIPMUNK_RECORD``, ``CHIPMUNK_RECORD_TYPE``, ``CHIPMUNK_IP`` and
``CHIPMUNK_OLD_IP`` (the address Chipmunk last set; empty when unknown).
Its exit status decides: 0 done; 75 (EX_TEMPFAIL) retry later; anything else
needs a person, and is not retried until the section changes.  It runs
without a shell, with stdin closed, in its own process group, which is
killed at ``timeout``; the end of its stderr is shown in the error.

It cannot read a record, so it runs only when an update is due (the address
changed, the last run failed, or the forced refresh) -- never to compare.
"""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
from typing import Any

from ..config import Option
from ..converters import bounded_duration, list_of, optional, to_text
from ..errors import Misconfigured, RefusedByService, TemporaryError
from .base import Current, DNSProvider, Record

STDERR_SHOWN = 300


def to_argv(text: str) -> tuple[str, ...]:
    try:
        argv = tuple(shlex.split(text))
    except ValueError as error:
        raise ValueError(f"cannot split into arguments: {error}") from None
    if not argv:
        raise ValueError("expected a program and its arguments, e.g. "
                         "/usr/local/bin/allowlist --zone home")
    if not os.path.isabs(argv[0]):
        raise ValueError(f"{argv[0]!r}: give the program's absolute path")
    return argv


to_labels = list_of(to_text, "record names, comma-separated")


class CommandProvider(DNSProvider):
    name = "command"
    readable = False
    options = (
        Option("command", to_argv, None, help=(
            "The program and its first arguments, split like a shell would (no\n"
            "shell runs it); RECORD TYPE ADDRESS are appended.")),
        Option("host", to_labels, None, help=(
            "Record names to run it for, comma-separated (any label you like).")),
        Option("timeout", optional(bounded_duration(0.1, 3600)), "", help=(
            "Seconds before the program is killed; empty: [ChipmunkAPIServer] timeout.")),
    )

    def write(self, record: Record, address: str, current: Current) -> None:
        argv = [*self.values["command"], record.name, record.rtype, address]
        limit = self.values["timeout"] or self.timeout
        environment = {**os.environ, "CHIPMUNK_RECORD": record.name,
                       "CHIPMUNK_RECORD_TYPE": record.rtype, "CHIPMUNK_IP": address,
                       "CHIPMUNK_OLD_IP": current.address or ""}
        try:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                       env=environment, start_new_session=True)
        except OSError as error:
            raise Misconfigured(f"command: cannot run {argv[0]}: "
                                f"{error.strerror or error}") from None
        try:
            _, stderr = process.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise TemporaryError(f"command: {argv[0]} did not finish within {limit:g}s "
                                 "(killed)") from None
        said = _tail(stderr)
        if process.returncode == 0:
            return
        what = f"command: {argv[0]} exited with {_status(process.returncode)}{said}"
        if process.returncode == os.EX_TEMPFAIL:
            raise TemporaryError(what)
        raise RefusedByService(what)


def _kill_group(process: subprocess.Popen[Any]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.communicate()


def _status(code: int) -> str:
    return f"signal {-code}" if code < 0 else f"status {code}"


def _tail(stderr: bytes) -> str:
    text = " ".join(stderr.decode("utf-8", "replace").split())
    return f": {text[-STDERR_SHOWN:]}" if text else ""
