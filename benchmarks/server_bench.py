"""chipmunk-server under wrk, beside nginx doing the same job in the same run.

The job: an authenticated ``GET /get/ip`` answered with ``Your IP:  ADDR``.
nginx does it with ``auth_basic`` and a fixed ``return 200``; it is the peer
every figure is divided by, because absolute requests/s say more about the
machine than about Chipmunk.  Each variant runs for about 8 s with 50
connections, keep-alive and connection-per-request.
"""
from __future__ import annotations

import base64
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chipmunk.server.passwords import hash_password

from .harness import AUTHORIZATION, PASSWORD, USER, WrkResult, free_port, wrk

NGINX = "/usr/sbin/nginx"
START_TIMEOUT = 15.0
#: threads per process where a variant sets them (and cheroot alone's)
THREADS = 2
#: chipmunk's default threads per worker
DEFAULT_THREADS = 4


def start_chipmunk(directory: Path, port: int, password_line: str, workers: int | str,
                   threads: int | None = 2,
                   extra: str = "") -> tuple[subprocess.Popen, socket.socket]:
    """chipmunk-server on 127.0.0.1:port, once it sent READY=1, and its notify socket.

    The notify socket stays open until the server stops, as systemd's would.
    """
    config = directory / f"server-{port}.ini"
    state = directory / f"state-{port}"
    state.mkdir()
    config.write_text(f"[Paths]\nclient_update_dir = {state}\n[Server]\n"
                      f"listen = 127.0.0.1:{port}\nworkers = {workers}\n"
                      + (f"threads = {threads}\n" if threads else "") + extra +
                      f"[Users]\n{USER} = {password_line}\n")
    notify_path = directory / f"notify-{port}.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.settimeout(START_TIMEOUT)
    env = dict(os.environ, NOTIFY_SOCKET=str(notify_path))
    server = subprocess.Popen([sys.executable, "-m", "chipmunk.server.cli",
                               "--config", str(config)], env=env,
                              stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if b"READY=1" in notify.recv(4096):
                return server, notify
        except TimeoutError:
            break
    server.kill()
    notify.close()
    raise SystemExit("chipmunk-server did not become ready")


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1, made by the openssl command."""
    cert, key = directory / "bench.crt", directory / "bench.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=30)
    return cert, key


def nginx_config(directory: Path, port: int, workers: int, access_log: bool,
                 tls: tuple[Path, Path] | None = None) -> Path:
    """nginx with auth_basic ({SSHA} entry) answering like /get/ip."""
    salt = os.urandom(8)
    digest = hashlib.sha1(PASSWORD.encode() + salt).digest()
    (directory / "htpasswd").write_text(
        f"{USER}:{{SSHA}}{base64.b64encode(digest + salt).decode()}\n")
    config = directory / f"nginx-{port}.conf"
    log = f"{directory}/access.log" if access_log else "off"
    config.write_text(f"""
daemon off;
worker_processes {workers};
pid {directory}/nginx.pid;
error_log {directory}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
    access_log {log};
    client_body_temp_path {directory}/nginx-body;
    server {{
        listen 127.0.0.1:{port} backlog=1024{" ssl" if tls else ""};
        {f"ssl_certificate {tls[0]}; ssl_certificate_key {tls[1]};" if tls else ""}
        location /get/ip {{
            auth_basic "chipmunk";
            auth_basic_user_file {directory}/htpasswd;
            default_type "text/plain; charset=utf-8";
            return 200 "Your IP:  $remote_addr\\n";
        }}
    }}
}}
""")
    return config


def start_nginx(directory: Path, port: int, workers: int, access_log: bool,
                tls: tuple[Path, Path] | None = None) -> subprocess.Popen:
    config = nginx_config(directory, port, workers, access_log, tls)
    process = subprocess.Popen([NGINX, "-c", str(config),
                                "-e", str(directory / "nginx-error.log")])
    wait_for_port(port, process)
    return process


def stop(process: subprocess.Popen, signum: int = signal.SIGTERM) -> None:
    process.send_signal(signum)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def measure(port: int, keep_alive: bool, scheme: str = "http") -> WrkResult:
    """A short unmeasured warm-up (first scrypt verify, imports), then the run."""
    url = f"{scheme}://127.0.0.1:{port}/get/ip"
    wrk(url, AUTHORIZATION, seconds=2, keep_alive=keep_alive)
    return wrk(url, AUTHORIZATION, keep_alive=keep_alive)


def main() -> int:
    results: dict[str, WrkResult] = {}
    with tempfile.TemporaryDirectory(prefix="chipmunk-bench-") as temp:
        directory = Path(temp)
        hashed = hash_password(PASSWORD)
        variants: list[tuple[str, str, int | str, int | None]] = [
            ("chipmunk default config, hashed", hashed, "auto", None),
            ("chipmunk 2 workers, hashed", hashed, 2, THREADS),
            ("chipmunk 1 worker, hashed", hashed, 1, THREADS),
            ("chipmunk 2 workers, plain", PASSWORD, 2, THREADS)]
        for name, password_line, workers, threads in variants:
            port = free_port()
            server, notify = start_chipmunk(directory, port, password_line, workers, threads)
            try:
                results[f"{name}, keep-alive"] = measure(port, True)
                results[f"{name}, close"] = measure(port, False)
            finally:
                stop(server)
                notify.close()
        # The peer: nginx tuned (a worker per core, no access log), and nginx as
        # Debian ships it for a small site (one worker, access log on).
        peers = [("nginx", os.cpu_count() or 1, False),
                 ("nginx 1 worker + access log", 1, True)]
        for name, workers, access_log in peers if shutil.which(NGINX) else []:
            port = free_port()
            nginx = start_nginx(directory, port, workers, access_log)
            try:
                results[f"{name}, keep-alive"] = measure(port, True)
                results[f"{name}, close"] = measure(port, False)
            finally:
                stop(nginx, signal.SIGQUIT)
        measure_cheroot_alone(results, "cheroot alone", 1, THREADS)
        workers = len(os.sched_getaffinity(0))  # what workers = auto starts
        measure_cheroot_alone(results, "cheroot alone x workers", workers, DEFAULT_THREADS)
        measure_tls(directory, hashed, results)
        measure_cheroot_alone(results, "cheroot alone x workers TLS", workers, DEFAULT_THREADS,
                              self_signed(directory))
    print(f"\n== GET /get/ip with Basic auth, 50 connections, wrk -t2, {os.cpu_count()} cores")
    for name, result in results.items():
        print(result.row(name))
    report_ratios(results)
    return 0


def measure_cheroot_alone(results: dict[str, WrkResult], name: str, processes: int,
                          threads: int, tls: tuple[Path, Path] | None = None) -> None:
    """The host with nothing to do: cheroot and a fixed answer, ``processes``
    sharing the port as chipmunk's workers do."""
    port = free_port()
    argv = [sys.executable, "-m", "benchmarks.cheroot_peer", str(port), str(threads),
            *(str(path) for path in tls or ())]
    peers = [subprocess.Popen(argv) for _ in range(processes)]
    try:
        wait_for_port(port, peers[0])
        scheme = "https" if tls else "http"
        results[f"{name}, keep-alive"] = measure(port, True, scheme)
        results[f"{name}, close"] = measure(port, False, scheme)
    finally:
        for peer in peers:
            stop(peer, signal.SIGINT)


def wait_for_port(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit(f"nothing listens on port {port}")


def measure_tls(directory: Path, hashed: str, results: dict[str, WrkResult]) -> None:
    """The default config over TLS, beside nginx over TLS with the same certificate."""
    cert, key = self_signed(directory)
    port = free_port()
    server, notify = start_chipmunk(directory, port, hashed, "auto", None, extra=(
        f"tls_certificate = {cert}\ntls_private_key = {key}\n"))
    try:
        results["chipmunk TLS, keep-alive"] = measure(port, True, "https")
        results["chipmunk TLS, close"] = measure(port, False, "https")
    finally:
        stop(server)
        notify.close()
    if shutil.which(NGINX):
        port = free_port()
        nginx = start_nginx(directory, port, os.cpu_count() or 1, False, (cert, key))
        try:
            results["nginx TLS, keep-alive"] = measure(port, True, "https")
            results["nginx TLS, close"] = measure(port, False, "https")
        finally:
            stop(nginx, signal.SIGQUIT)


def report_ratios(results: dict[str, WrkResult]) -> None:
    print("\n== ratios (goal: keep-alive >= 0.20, close >= 0.40 of nginx; "
          "hashed within 10% of plain)")
    for mode in ("keep-alive", "close"):
        for peer_name in ("nginx", "nginx 1 worker + access log"):
            peer = results.get(f"{peer_name}, {mode}")
            for workers in ("default config", "2 workers", "1 worker"):
                ours = results[f"chipmunk {workers}, hashed, {mode}"]
                if peer:
                    print(f"chipmunk {workers} / {peer_name}, {mode}: "
                          f"{ours.requests_per_second / peer.requests_per_second:.2f}")
        plain = results[f"chipmunk 2 workers, plain, {mode}"]
        hashed = results[f"chipmunk 2 workers, hashed, {mode}"]
        print(f"hashed / plain passwords, {mode}: "
              f"{hashed.requests_per_second / plain.requests_per_second:.2f}")
    for mode, goal in (("keep-alive", 0.30), ("close", 0.5)):
        peer = results.get(f"nginx TLS, {mode}")
        if peer:
            ours = results[f"chipmunk TLS, {mode}"]
            print(f"chipmunk TLS / nginx TLS, {mode} (goal >= {goal:g}): "
                  f"{ours.requests_per_second / peer.requests_per_second:.2f}")
    for mode in ("keep-alive", "close"):
        alone, peer = results[f"cheroot alone, {mode}"], results.get(f"nginx, {mode}")
        ours = results[f"chipmunk 1 worker, hashed, {mode}"]
        print(f"chipmunk 1 worker / cheroot alone (the host, no work), {mode}: "
              f"{ours.requests_per_second / alone.requests_per_second:.2f}")
        if peer:
            print(f"cheroot alone / nginx, {mode} (the ceiling of a worker): "
                  f"{alone.requests_per_second / peer.requests_per_second:.2f}")
    print("\n== the default config against its host: cheroot alone, as many processes "
          "as workers, same threads (goals: per connection >= 1.0, plain and TLS; "
          "keep-alive p99 <= 10 ms at 50 connections)")
    for suffix, label in (("", "plain"), (" TLS", "TLS")):
        for mode in ("keep-alive", "close"):
            ours = results[f"chipmunk {'default config, hashed' if not suffix else 'TLS'}, "
                           f"{mode}"]
            alone = results[f"cheroot alone x workers{suffix}, {mode}"]
            print(f"default config / cheroot alone x workers, {label}, {mode}: "
                  f"{ours.requests_per_second / alone.requests_per_second:.2f}")
    print(f"default config keep-alive p99: "
          f"{results['chipmunk default config, hashed, keep-alive'].p99_ms:.1f} ms")
    if "nginx, keep-alive" not in results:
        print("nginx is not installed: no peer, no ratios (apt-get install nginx-light)")


if __name__ == "__main__":
    sys.exit(main())
