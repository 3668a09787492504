"""SignalInbox in a real child process receiving real signals."""
from __future__ import annotations

import select
import signal
import subprocess
import sys

import pytest

from helpers import WAIT, child_env

#: Prints each request the inbox hands out; after "terminate" it closes the
#: inbox and waits for a signal with its default action.
ECHO = """
import os, signal, sys
from chipmunk.signals import Request, SignalInbox
inbox = SignalInbox({signal.SIGHUP: Request.RELOAD, signal.SIGUSR1: Request.REOPEN_LOGS,
                     signal.SIGTERM: Request.TERMINATE})
timeout = None if sys.argv[1] == "none" else float(sys.argv[1])
os.write(1, b"ready\\n")
while True:
    request = inbox.wait(timeout)
    os.write(1, f"{request.value if request else None}\\n".encode())
    if request is Request.TERMINATE:
        break
inbox.close()
os.write(1, b"closed\\n")
signal.pause()
"""


class Echo:
    def __init__(self, timeout: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", ECHO, timeout],
                                        stdout=subprocess.PIPE, bufsize=0, env=child_env())
        assert self.line() == "ready"

    def line(self, timeout: float = WAIT) -> str | None:
        """The next line the child wrote, or None if none came in ``timeout``.

        Unbuffered (bufsize=0): select() must see every line not yet read."""
        if not select.select([self.process.stdout], [], [], timeout)[0]:
            return None
        return self.process.stdout.readline().decode().strip()

    def send(self, signum: int) -> None:
        self.process.send_signal(signum)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=WAIT)
        self.process.stdout.close()


@pytest.fixture
def echo():
    started = []

    def start(timeout: str = "none") -> Echo:
        started.append(Echo(timeout))
        return started[-1]

    yield start
    for child in started:
        child.close()


def test_no_signal_is_lost_while_the_main_loop_starts_to_wait(echo):
    # Each signal is sent right after the child answered the previous one,
    # so many land just as it starts to wait again.  Waiting on a queue that
    # a Python-level handler fills lost about one in 50,000 this way (the
    # child then slept forever).  A fixed count, not a time budget, so the
    # test means the same on a slow machine; each answer waits at most 5 s.
    child = echo("none")
    for sent in range(1, 100_001):
        child.send(signal.SIGHUP)
        assert child.line(timeout=5) == "reload", f"signal {sent} was lost"


def test_each_signal_becomes_its_request_and_close_restores_the_default(echo):
    child = echo("none")
    for signum, request in [(signal.SIGUSR1, "reopen-logs"), (signal.SIGHUP, "reload"),
                            (signal.SIGUSR1, "reopen-logs"), (signal.SIGTERM, "terminate")]:
        child.send(signum)
        assert child.line() == request
    assert child.line() == "closed"
    child.send(signal.SIGHUP)
    assert child.process.wait(timeout=WAIT) == -signal.SIGHUP


@pytest.mark.parametrize("timeout", ["0.05", "0"])
def test_a_wait_with_a_timeout_ends_without_a_request(echo, timeout):
    child = echo(timeout)
    assert [child.line(), child.line()] == ["None", "None"]
    child.send(signal.SIGTERM)
    # At most a pipe's worth (64 KiB) of "None" lines precede the answer.
    lines = [child.line()]
    while lines[-1] == "None" and len(lines) < 100_000:
        lines.append(child.line())
    assert lines[-1] == "terminate" and child.line() == "closed"
