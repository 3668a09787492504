"""``make run``: the main job on embedded defaults, on loopback, then cleaned up.

Starts chipmunk-server on its default address (127.0.0.1:8080) with a demo
user (hashed password) and a temporary state directory, shows its answers,
then runs ``chipmunk-client once`` against it with the hostsfile provider and
shows what the client learned and wrote: the ``.cm`` file on the server side,
the hosts file and the client's status.  Then it reports an address by
dyndns2, as a router would (``good``, then ``nochg``), with a key made for
the router by ``chipmunk-server new-key`` (which opens nothing else), shows
where the server kept it and the user's status page; and an ACME client
sets the name's DNS-01 challenge through the acme-dns API with a key of its
own.  Everything is stopped and removed at the end.

It reads top to bottom: each step's heading comes first, then what the
server logged while answering it (``server |``), then the answer; the
client's own lines are marked ``client |``.
"""
from __future__ import annotations

import base64
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from chipmunk.server.keys import new_key
from chipmunk.server.passwords import hash_password

ADDRESS = "127.0.0.1:8080"
USER, PASSWORD = "demo", "demo-password"
ROUTER_NAME = "router.example.lan"


class ServerLog:
    """The server's log lines, read from its stderr as they come, shown under
    the step that caused them."""

    def __init__(self, server: subprocess.Popen) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, args=(server,), daemon=True)
        self.reader.start()

    def _read(self, server: subprocess.Popen) -> None:
        assert server.stderr is not None  # started with stderr=PIPE
        for line in server.stderr:
            self.lines.put(line.rstrip("\n"))

    def show(self, settle: float = 0.2) -> None:
        """Print what the server logged, once it has been quiet for ``settle``."""
        while True:
            try:
                print(f"   server | {self.lines.get(timeout=settle)}")
            except queue.Empty:
                return


def request(path: str, method: str = "GET", password: str = PASSWORD, user: str = USER,
            headers: dict[str, str] | None = None, body: bytes | None = None) -> str:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    req = urllib.request.Request(f"http://{ADDRESS}{path}", method=method, data=body,
                                 headers=headers or {"Authorization": f"Basic {token}"})
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


def client(config: Path, log: ServerLog, *args: str, quiet: str = "") -> int:
    """Run ``chipmunk-client ARGS``; ``quiet``: what it means when it says nothing."""
    print(f"== chipmunk-client {' '.join(args)}", flush=True)
    done = subprocess.run([sys.executable, "-m", "chipmunk.client.cli", "--config",
                           str(config), *args], timeout=60, capture_output=True, text=True)
    log.show()
    said = (done.stderr + done.stdout).splitlines()
    for line in said:
        print(f"   client | {line}")
    if not said and quiet:
        print(f"   client | (nothing printed: {quiet})")
    print(f"   (exit status {done.returncode})")
    return done.returncode


def step(log: ServerLog, heading: str, answer: str) -> None:
    """A request's heading, what the server logged for it, then its answer."""
    print(f"== {heading}")
    log.show()
    print(f"   answer | {answer}")


def write_configs(temp: Path) -> tuple[Path, Path, Path, Path, dict[str, tuple[str, str]]]:
    server_state, client_state = temp / "server-state", temp / "client-state"
    server_state.mkdir()
    server_config, client_config = temp / "server.ini", temp / "client.ini"
    hosts = temp / "hosts"
    # documentation addresses (192.0.2.7) are no public addresses: a demo allows them
    keys, fragments = {}, ""
    for use, scope in (("router", True), ("acme", False)):
        key_id, secret, fragment = new_key(ROUTER_NAME, update=scope, acme=not scope)
        keys[use] = (key_id, secret)
        fragments += "\n" + fragment
    server_config.write_text(f"[Paths]\nclient_update_dir = {server_state}\n\n"
                             "[Server]\npublish_non_global = yes\n\n"
                             f"[Hostnames]\n{USER} = {ROUTER_NAME}\n\n"
                             f"[Users]\n{USER} = {hash_password(PASSWORD)}\n{fragments}")
    client_config.write_text(
        f"[Global]\nupdate_dns = yes\nstate_dir = {client_state}\n\n"
        f"[ChipmunkAPIServer]\nusername = {USER}\npassword = {PASSWORD}\n"
        f"method = set\nendpoint = http://{ADDRESS}\n\n"
        f"[dDNS]\nprovider = hostsfile\n\n"
        f"[hostsfile]\npath = {hosts}\nnames = home.example.lan home\n")
    client_config.chmod(0o600)
    return server_config, client_config, server_state, hosts, keys


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="chipmunk-demo-") as temp_name:
        server_config, client_config, server_state, hosts, keys = write_configs(Path(temp_name))
        print(f"== {server_config}\n{server_config.read_text()}")
        server = subprocess.Popen([sys.executable, "-m", "chipmunk.server.cli",
                                   "--config", str(server_config)],
                                  stderr=subprocess.PIPE, text=True)
        log = ServerLog(server)
        try:
            wait_until_serving(server)
            print("== chipmunk-server started")
            log.show()
            for method, path, password in [
                    ("GET", "/get/ip", PASSWORD), ("GET", "/get/ip.json", PASSWORD),
                    ("GET", "/ip", PASSWORD), ("GET", "/get/ip", "wrong")]:
                answer = request(path, method, password)
                step(log, f"{method} {path} as {USER}:{password}", answer)
            print(f"== {client_config}\n{client_config.read_text()}")
            codes = [client(client_config, log, "once"),
                     client(client_config, log, "once", quiet=(
                         "the address did not change, so no provider was called")),
                     client(client_config, log, "status")]
            cm_file = server_state / f"{USER}.cm"
            print(f"== server side {cm_file}: {cm_file.read_text()!r}")
            print(f"== client side {hosts}:\n{hosts.read_text()}", end="")
            update = f"/nic/update?hostname={ROUTER_NAME}&myip=192.0.2.7,2001:db8::7"
            router_id, router_secret = keys["router"]
            for _ in range(2):
                answer = request(update, user=router_id, password=router_secret)
                step(log, f"a router's dyndns2 update with its key: GET {update}", answer)
            answer = request("/get/ip", user=router_id, password=router_secret)
            step(log, "the router's key on anything else: GET /get/ip", answer)
            kept = server_state / "hostnames" / ROUTER_NAME
            print(f"== kept by the server (no [Publish]): {kept}\n{kept.read_text()}", end="")
            page = request("/").replace("\n", "\n" + " " * 12)
            step(log, "GET / (the status page, as text)", page)
            acme_id, acme_secret = keys["acme"]
            challenge = "A" * 43
            answer = request("/update", "POST", headers={
                "X-Api-User": acme_id, "X-Api-Key": acme_secret,
                "Content-Type": "application/json"},
                body=f'{{"subdomain": "{acme_id}", "txt": "{challenge}"}}'.encode())
            step(log, "an ACME client sets the DNS-01 challenge (acme-dns API): POST "
                 "/update", answer)
            kept = server_state / "hostnames" / f"_acme-challenge.{ROUTER_NAME}"
            print(f"== kept by the server: {kept}\n{kept.read_text()}", end="")
        finally:
            server.send_signal(signal.SIGTERM)
            code = server.wait(timeout=15)
            log.reader.join(timeout=5)
            log.show(settle=0.05)
        print(f"== chipmunk-server stopped with exit status {code}")
        return max([code, *codes])


if __name__ == "__main__":
    sys.exit(main())
