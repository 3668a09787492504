"""``make run``: the main job on embedded defaults, on loopback, then cleaned up.

Starts chipmunk-server on its default address (127.0.0.1:8080) with a demo
user (hashed password) and a temporary state directory, asks it what a
client would ask, shows the answers and the ``.cm`` file, and stops it.
"""
from __future__ import annotations

import base64
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from .passwords import hash_password

ADDRESS = "127.0.0.1:8080"
USER, PASSWORD = "demo", "demo-password"


def request(path: str, method: str = "GET", password: str = PASSWORD) -> str:
    token = base64.b64encode(f"{USER}:{password}".encode()).decode()
    req = urllib.request.Request(f"http://{ADDRESS}{path}", method=method,
                                 headers={"Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return f"{response.status} {response.read().decode().rstrip()}"
    except urllib.error.HTTPError as error:
        return f"{error.code} {error.read().decode().rstrip()}"


def wait_until_serving(server: subprocess.Popen, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"chipmunk-server exited with status {server.returncode}")
        try:
            urllib.request.urlopen(f"http://{ADDRESS}/", timeout=1)
        except urllib.error.HTTPError:
            return  # it answered (404): it is serving
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"chipmunk-server did not answer on {ADDRESS} within {timeout}s")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="chipmunk-demo-") as temp:
        state = Path(temp) / "state"
        state.mkdir()
        config = Path(temp) / "server.ini"
        config.write_text(f"[Paths]\nclient_update_dir = {state}\n\n"
                          f"[Users]\n{USER} = {hash_password(PASSWORD)}\n")
        print(f"== {config}\n{config.read_text()}")
        server = subprocess.Popen([sys.executable, "-m", "chipmunk.server_cli",
                                   "--config", str(config)])
        try:
            wait_until_serving(server)
            for method, path, password in [
                    ("GET", "/get/ip", PASSWORD), ("GET", "/get/ip.json", PASSWORD),
                    ("GET", "/ip", PASSWORD), ("POST", "/set", PASSWORD),
                    ("POST", "/set", PASSWORD), ("GET", "/get/ip", "wrong")]:
                print(f"== {method} {path} as {USER}:{password}\n"
                      f"{request(path, method, password)}")
            cm_file = state / f"{USER}.cm"
            print(f"== {cm_file}: {cm_file.read_text()!r}")
            print(f"== {state}: {sorted(p.name for p in state.iterdir())}")
        finally:
            server.send_signal(signal.SIGTERM)
            code = server.wait(timeout=15)
        print(f"== chipmunk-server stopped with exit status {code}")
        return code


if __name__ == "__main__":
    sys.exit(main())
