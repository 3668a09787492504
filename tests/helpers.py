"""Shared test harness: real server processes, a real NOTIFY_SOCKET, real HTTP.

Every wait is bounded; every process started is stopped.
"""
from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WAIT = 15.0  # seconds: the upper bound of every wait in the tests


def wait_until(predicate: Callable[[], object], what: str, timeout: float = WAIT,
               interval: float = 0.05) -> None:
    """Poll ``predicate`` until it is true; fail naming ``what`` after ``timeout``.

    For conditions nothing announces (a file appearing, a process gone);
    where the program sends a notification, wait for that instead.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout:g}s: {what}")
        time.sleep(interval)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def basic(username: str, password: str) -> str:
    token = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(token).decode("ascii")


def child_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("NOTIFY_SOCKET", "LISTEN_", "WATCHDOG_",
                                  "JOURNAL_STREAM", "STATE_DIRECTORY",
                                  "CREDENTIALS_DIRECTORY"))}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


class NotifySocket:
    """A real AF_UNIX datagram socket in the role of systemd's notify socket."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages: list[dict[str, str]] = []

    def receive(self, timeout: float = WAIT) -> dict[str, str] | None:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return None
        fields = dict(line.split("=", 1) for line in data.decode().splitlines() if line)
        self.messages.append(fields)
        return fields

    def wait_for(self, key: str, value: str | None = None,
                 timeout: float = WAIT) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.receive(max(deadline - time.monotonic(), 0.01))
            if message and key in message and (value is None or message[key] == value):
                return message
        raise AssertionError(f"no {key}={value or '*'} within {timeout}s; "
                             f"got {self.messages}")

    def close(self) -> None:
        self.sock.close()


class ServerProcess:
    """chipmunk-server in a child process, talked to over real sockets."""

    def __init__(self, tmp_path: Path, config_text: str, **env: str) -> None:
        self.config = tmp_path / "server.ini"
        self.config.write_text(config_text)
        self.notify = NotifySocket(tmp_path / "notify.sock")
        self.stderr_path = tmp_path / "server.stderr"
        self.env = child_env(NOTIFY_SOCKET=str(self.notify.path), **env)
        self.process: subprocess.Popen | None = None
        self.addresses: list[tuple[str, int]] = []

    def start(self, extra_args: tuple[str, ...] = (), pass_fds: tuple[int, ...] = (),
              preexec_fn=None) -> ServerProcess:
        with open(self.stderr_path, "ab") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "chipmunk.server.cli", "--config", str(self.config),
                 *extra_args], env=self.env, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=stderr, pass_fds=pass_fds,
                preexec_fn=preexec_fn)
        return self

    def wait_ready(self) -> dict[str, str]:
        try:
            ready = self.notify.wait_for("READY", "1")
        except AssertionError:
            raise AssertionError(f"server not ready; stderr:\n{self.stderr()}") from None
        self.addresses = parse_status_addresses(ready["STATUS"])
        return ready

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def send_signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                address: int = 0, body: bytes | None = None,
                connection: http.client.HTTPConnection | None = None
                ) -> tuple[int, dict[str, str], bytes]:
        host, port = self.addresses[address]
        conn = connection or http.client.HTTPConnection(host, port, timeout=WAIT)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
            return response.status, dict(response.getheaders()), data
        finally:
            if connection is None:
                conn.close()

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            stuck = describe_process_tree(self.process.pid)
            self.process.kill()
            self.process.wait(timeout=WAIT)
            raise AssertionError(f"server did not stop on SIGTERM\n{stuck}\n"
                                 f"stderr:\n{self.stderr()}") from None
        finally:
            self.notify.close()


def start_trickling(sockets: list, data: bytes, every: float,
                    stop: threading.Event) -> threading.Thread:
    """A thread sending ``data`` one byte at a time to every socket, a round
    every ``every`` seconds, until ``stop`` or the end of ``data``; a socket the
    server closed is skipped.  (Over TLS each byte is a record of its own.)"""

    def trickle() -> None:
        for position in range(len(data)):
            for sock in sockets:
                try:
                    sock.send(data[position:position + 1])
                except OSError:
                    pass
            if stop.wait(every):
                return

    thread = threading.Thread(target=trickle, name="trickle")
    thread.start()
    return thread


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry))
    return found


def describe_process_tree(pid: int) -> str:
    """Each thread of ``pid`` and its children: state and kernel wait channel."""
    lines = []
    for proc in [pid, *children_of(pid)]:
        for task in sorted(Path(f"/proc/{proc}/task").glob("*")):
            try:
                stat = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
                wchan = (task / "wchan").read_text()
                comm = (task / "comm").read_text().strip()
            except OSError:
                continue
            lines.append(f"  pid {proc} thread {task.name} {comm!r}: {stat} {wchan}")
    return "processes:\n" + "\n".join(lines)


def parse_status_addresses(status: str) -> list[tuple[str, int]]:
    """'Serving on 127.0.0.1:4000, [::1]:4001 for 2 users' -> [(host, port), ...]."""
    listed = status.split("Serving on ", 1)[1].split(" for ", 1)[0]
    addresses = []
    for item in listed.split(", "):
        host, _, port = item.rpartition(":")
        addresses.append((host.strip("[]"), int(port)))
    return addresses


def server_config(state_dir: Path, users: str = "alice = wonderland\n",
                  server: str = "", listen: str = "127.0.0.1:0, [::1]:0") -> str:
    # One worker unless a test asks for more: the default (auto) is tested apart.
    workers = "" if "workers" in server else "workers = 1\n"
    return (f"[Paths]\nclient_update_dir = {state_dir}\n\n"
            f"[Server]\nlisten = {listen}\n{workers}{server}\n"
            f"[Users]\n{users}")


def client_config(endpoint: str, state_dir: Path, providers: str = "",
                  extra: str = "", password: str = "wonderland",
                  method: str = "get", endpoint6: str = "") -> str:
    """A client config in the original's format, plus state_dir for the test."""
    return (f"[Global]\nupdate_dns = {'yes' if providers else 'no'}\n"
            f"state_dir = {state_dir}\n\n"
            f"[ChipmunkAPIServer]\nusername = alice\npassword = {password}\n"
            f"method = {method}\nendpoint = {endpoint}\n"
            + (f"endpoint6 = {endpoint6}\n" if endpoint6 else "") +
            f"timeout = 5\n\n[dDNS]\nprovider = {providers}\n\n{extra}")


def write_client_config(path: Path, *args, **kwargs) -> Path:
    """client_config() written to ``path``, readable by its owner only."""
    path.write_text(client_config(*args, **kwargs))
    path.chmod(0o600)
    return path


def write_provider_config(tmp_path: Path, server: ServerProcess, provider: str,
                          section: str) -> Path:
    """``tmp_path/client.ini`` for ``provider`` against a chipmunk_server fixture."""
    return write_client_config(tmp_path / "client.ini", server.endpoint, tmp_path / "state",
                               provider, section, endpoint6=server.endpoint6)


def run_client(config: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``chipmunk-client --config CONFIG ARGS`` in a child process."""
    return subprocess.run([sys.executable, "-m", "chipmunk.client.cli", "--config",
                           str(config), *args], env=child_env(**env), capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


def make_refresh_due(tmp_path: Path) -> None:
    """Age every record in ``tmp_path/state`` by 30 days: the next run refreshes it."""
    state_path = tmp_path / "state" / "state.json"
    state = json.loads(state_path.read_text())
    for record in state["records"].values():
        record["updated_at"] -= 30 * 86400
    state_path.write_text(json.dumps(state))


def stop_process(process: subprocess.Popen | None) -> None:
    """SIGTERM, and SIGKILL what does not stop within WAIT."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=WAIT)
