"""Real headless Chromium, driven over the DevTools protocol on a pipe.

``--remote-debugging-pipe`` reads commands on fd 3 and writes answers and
events on fd 4, each a JSON object ended by a NUL byte: no websocket, no
library, and nothing listens on a port.  One browser, one tab, a fresh
profile per test; every wait is bounded and the browser is always stopped.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import select
import subprocess
import time
from pathlib import Path

from helpers import WAIT, stop_process

FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--remote-debugging-pipe")


class Browser:
    def __init__(self, profile: Path) -> None:
        commands_read, self._commands = os.pipe()
        self._events, events_write = os.pipe()

        def to_fds_3_and_4() -> None:
            # via fds above 9, so that neither end is overwritten by the other
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (commands_read, events_write)]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        # close_fds would close 3 and 4 after preexec_fn placed them
        self.process = subprocess.Popen(
            ["chromium", *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            close_fds=False, preexec_fn=to_fds_3_and_4,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(commands_read)
        os.close(events_write)
        self._buffer = b""
        self._next_id = 0
        self.session = ""
        target = self.command("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.command("Target.attachToTarget", targetId=target,
                                    flatten=True)["sessionId"]
        self.command("Page.enable")

    def command(self, method: str, **params) -> dict:
        """Send one command (to the tab, once attached) and return its result."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        answer = self._receive(lambda m: m.get("id") == self._next_id, f"an answer to {method}")
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def navigate(self, url: str, lands_on: str | None = None) -> None:
        """Open ``url`` in the tab and wait until the page at ``lands_on`` (a URL
        prefix; default ``url`` itself: where a redirect or a form that the
        page submits leads) has loaded."""
        lands_on = lands_on or url.split("?")[0]
        self.command("Page.navigate", url=url)
        self._receive(lambda m: m.get("method") == "Page.frameNavigated"
                      and re.sub(r"//[^/@]*@", "//", m["params"]["frame"]["url"]
                                 ).startswith(lands_on)
                      and "parentId" not in m["params"]["frame"], f"a page at {lands_on}")
        self._receive(lambda m: m.get("method") == "Page.loadEventFired", f"{lands_on} to load")

    def text(self) -> str:
        """What the tab shows now, as text."""
        return self.command("Runtime.evaluate", expression="document.body.innerText",
                            returnByValue=True)["result"].get("value", "")

    def _receive(self, wanted, what: str) -> dict:
        deadline = time.monotonic() + WAIT
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if wanted(message):
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._events], [], [], remaining)[0]:
                raise AssertionError(f"chromium: not within {WAIT:g}s: {what}")
            data = os.read(self._events, 65536)
            if not data:
                raise AssertionError(f"chromium exited waiting for {what}")
            self._buffer += data

    def close(self) -> None:
        os.close(self._commands)
        os.close(self._events)
        stop_process(self.process)
