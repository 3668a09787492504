"""``make run``: the main job on embedded defaults, on loopback, then cleaned up.

Starts chipmunk-server on its default address (127.0.0.1:8080) with a demo
user (hashed password) and a temporary state directory, shows its answers,
then runs ``chipmunk-client once`` against it with the hostsfile provider and
shows what the client learned and wrote: the ``.cm`` file on the server side,
the hosts file and the client's status.  Then it reports an address by
dyndns2, as a router would (``good``, then ``nochg``), shows where the
server kept it and the user's status page.  Everything is stopped and
removed at the end.
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

from chipmunk.server.passwords import hash_password

ADDRESS = "127.0.0.1:8080"
USER, PASSWORD = "demo", "demo-password"
ROUTER_NAME = "router.example.lan"


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


def client(config: Path, *args: str) -> int:
    print(f"== chipmunk-client {' '.join(args)}", flush=True)
    done = subprocess.run([sys.executable, "-m", "chipmunk.client.cli", "--config",
                           str(config), *args], timeout=60)
    print(f"   (exit status {done.returncode})")
    return done.returncode


def write_configs(temp: Path) -> tuple[Path, Path, Path, Path]:
    server_state, client_state = temp / "server-state", temp / "client-state"
    server_state.mkdir()
    server_config, client_config = temp / "server.ini", temp / "client.ini"
    hosts = temp / "hosts"
    # documentation addresses (192.0.2.7) are no public addresses: a demo allows them
    server_config.write_text(f"[Paths]\nclient_update_dir = {server_state}\n\n"
                             "[Server]\npublish_non_global = yes\n\n"
                             f"[Hostnames]\n{USER} = {ROUTER_NAME}\n\n"
                             f"[Users]\n{USER} = {hash_password(PASSWORD)}\n")
    client_config.write_text(
        f"[Global]\nupdate_dns = yes\nstate_dir = {client_state}\n\n"
        f"[ChipmunkAPIServer]\nusername = {USER}\npassword = {PASSWORD}\n"
        f"method = set\nendpoint = http://{ADDRESS}\n\n"
        f"[dDNS]\nprovider = hostsfile\n\n"
        f"[hostsfile]\npath = {hosts}\nnames = home.example.lan home\n")
    client_config.chmod(0o600)
    return server_config, client_config, server_state, hosts


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="chipmunk-demo-") as temp_name:
        server_config, client_config, server_state, hosts = write_configs(Path(temp_name))
        print(f"== {server_config}\n{server_config.read_text()}")
        server = subprocess.Popen([sys.executable, "-m", "chipmunk.server.cli",
                                   "--config", str(server_config)])
        try:
            wait_until_serving(server)
            for method, path, password in [
                    ("GET", "/get/ip", PASSWORD), ("GET", "/get/ip.json", PASSWORD),
                    ("GET", "/ip", PASSWORD), ("GET", "/get/ip", "wrong")]:
                print(f"== {method} {path} as {USER}:{password}\n"
                      f"{request(path, method, password)}")
            print(f"== {client_config}\n{client_config.read_text()}")
            codes = [client(client_config, "once"), client(client_config, "once"),
                     client(client_config, "status")]
            cm_file = server_state / f"{USER}.cm"
            print(f"== server side {cm_file}: {cm_file.read_text()!r}")
            print(f"== client side {hosts}:\n{hosts.read_text()}", end="")
            update = f"/nic/update?hostname={ROUTER_NAME}&myip=192.0.2.7,2001:db8::7"
            for _ in range(2):
                print(f"== a router's dyndns2 update: GET {update}\n{request(update)}")
            kept = server_state / "hostnames" / ROUTER_NAME
            print(f"== kept by the server (no [Publish]): {kept}\n{kept.read_text()}", end="")
            print(f"== GET / (the status page, as text)\n{request('/')}")
        finally:
            server.send_signal(signal.SIGTERM)
            code = server.wait(timeout=15)
        print(f"== chipmunk-server stopped with exit status {code}")
        return max([code, *codes])


if __name__ == "__main__":
    sys.exit(main())
