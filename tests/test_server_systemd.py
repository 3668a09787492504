"""chipmunk-server under (a stand-in for) systemd: notify, signals, sockets."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import (
    WAIT,
    ServerProcess,
    basic,
    child_env,
    children_of,
    parse_status_addresses,
    server_config,
    wait_until,
)

ALICE = {"Authorization": basic("alice", "wonderland")}
BOB = {"Authorization": basic("bob", "builder")}


def test_ready_and_status_after_binding(tmp_path, start_server):
    server = start_server(server_config(tmp_path, "alice = a\nbob = b\ncarol = c\n"))
    ready = server.notify.messages[-1]
    assert ready["READY"] == "1"
    assert ready["STATUS"].startswith("Serving on 127.0.0.1:")
    assert ready["STATUS"].endswith(" for 3 users")
    # READY came after the sockets were bound: the announced ports answer.
    for index in range(2):
        assert server.request("GET", "/ip", {"Authorization": basic("bob", "b")},
                              address=index)[0] == 200


def test_sighup_reloads_users_and_keeps_serving(tmp_path, start_server):
    server = start_server(server_config(tmp_path))
    host, port = server.addresses[0]
    idle = socket.create_connection((host, port), timeout=WAIT)  # must survive reload
    assert server.request("GET", "/ip", ALICE)[0] == 200

    server.config.write_text(server_config(tmp_path, "bob = builder\n"))
    server.send_signal(signal.SIGHUP)
    reloading = server.notify.wait_for("RELOADING", "1")
    assert int(reloading["MONOTONIC_USEC"]) > 0
    assert server.notify.wait_for("READY", "1")["STATUS"].endswith("for 1 user")
    assert server.addresses == parse_status_addresses(server.notify.messages[-1]["STATUS"])
    assert server.request("GET", "/ip", BOB)[0] == 200
    assert server.request("GET", "/ip", ALICE)[0] == 401, "removed user refused"

    server.config.write_text("[Users]\nbad name = x\n")
    server.send_signal(signal.SIGHUP)
    server.notify.wait_for("RELOADING", "1")
    server.notify.wait_for("READY", "1")
    assert server.request("GET", "/ip", BOB)[0] == 200, "old config keeps serving"
    refused = [line for line in server.stderr().splitlines() if "reload refused" in line]
    assert len(refused) == 1 and "[Users] bad name" in refused[0]

    idle.sendall(b"GET /ip HTTP/1.1\r\nHost: x\r\nAuthorization: "
                 + BOB["Authorization"].encode() + b"\r\nConnection: close\r\n\r\n")
    assert idle.recv(4096).startswith(b"HTTP/1.1 200 OK")
    idle.close()


def test_plaintext_warning_once_per_start_and_reload(tmp_path, start_server):
    server = start_server(server_config(tmp_path))
    for _ in range(3):
        server.request("GET", "/ip", ALICE)
    assert server.stderr().count("plain-text password") == 1
    server.send_signal(signal.SIGHUP)
    server.notify.wait_for("RELOADING", "1")
    server.notify.wait_for("READY", "1")
    assert server.stderr().count("plain-text password") == 2


def test_sigterm_sends_stopping_and_exits_zero(tmp_path, start_server):
    server = start_server(server_config(tmp_path))
    host, port = server.addresses[0]
    idle = socket.create_connection((host, port), timeout=WAIT)
    server.send_signal(signal.SIGTERM)
    server.notify.wait_for("STOPPING", "1")
    assert server.process.wait(timeout=WAIT) == 0
    idle.close()
    with pytest.raises(OSError):
        socket.create_connection((host, port), timeout=2).close()


def test_sigint_also_stops_cleanly(tmp_path, start_server):
    server = start_server(server_config(tmp_path))
    server.send_signal(signal.SIGINT)
    assert server.process.wait(timeout=WAIT) == 0


def test_watchdog_pings_when_requested(tmp_path, start_server):
    server = start_server(server_config(tmp_path), WATCHDOG_USEC="200000")
    deadline, pings = time.monotonic() + WAIT, 0
    while pings < 3 and time.monotonic() < deadline:
        message = server.notify.receive(timeout=1)
        pings += bool(message and message.get("WATCHDOG") == "1")
    assert pings >= 3


def test_no_watchdog_pings_without_watchdog_usec(tmp_path, start_server):
    server = start_server(server_config(tmp_path))
    assert server.notify.receive(timeout=1.0) is None


def _activated_server(tmp_path: Path, sockets: list[socket.socket]) -> ServerProcess:
    """Start the server the way systemd does for a .socket unit.

    The sockets travel as fresh descriptors (never dup2 onto fixed numbers
    here: another test in this process may own them); in the child they are
    first moved out of the way, then onto 3, 4, ... as systemd passes them.
    """
    server = ServerProcess(tmp_path, server_config(tmp_path, listen="192.0.2.1:80"))
    fds = [os.dup(sock.fileno()) for sock in sockets]
    launcher = (
        "import fcntl, os, sys\n"
        f"moved = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) for fd in {fds!r}]\n"
        "for i, fd in enumerate(moved): os.dup2(fd, 3 + i)\n"
        f"os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='{len(sockets)}')\n"
        "os.execv(sys.executable, [sys.executable, '-m', 'chipmunk.server.cli', *sys.argv[1:]])\n")
    try:
        with open(server.stderr_path, "ab") as stderr:
            server.process = subprocess.Popen(
                [sys.executable, "-c", launcher, "--config", str(server.config)],
                env=server.env, stdin=subprocess.DEVNULL, stderr=stderr, pass_fds=tuple(fds))
    finally:
        for fd in fds:
            os.close(fd)
    return server


def test_socket_activation_serves_inherited_ipv4_and_ipv6(tmp_path):
    sockets = []
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.bind((host, 0))
        sock.listen(16)
        sockets.append(sock)
    ports = [sock.getsockname()[1] for sock in sockets]
    server = _activated_server(tmp_path, sockets)
    try:
        server.wait_ready()
        assert server.addresses == [("127.0.0.1", ports[0]), ("::1", ports[1])]
        assert server.request("GET", "/ip", ALICE, address=0)[2] == b"127.0.0.1\n"
        assert server.request("GET", "/ip", ALICE, address=1)[2] == b"::1\n"
        assert "listen is ignored" in server.stderr()
    finally:
        assert server.stop() == 0
        for sock in sockets:
            sock.close()


def test_cannot_bind_exits_69_with_a_clear_line(tmp_path, start_server):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    try:
        server = start_server(server_config(tmp_path, listen=f"127.0.0.1:{port}"),
                              wait=False)
        assert server.process.wait(timeout=WAIT) == 69
        assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in server.stderr()
    finally:
        blocker.close()


@pytest.mark.parametrize("workers", [2, 4])
def test_ready_after_reload_means_every_worker_serves_the_new_config(tmp_path, start_server,
                                                                    workers):
    options = f"workers = {workers}\nauth_failure_limit = 1000\n"
    server = start_server(server_config(tmp_path, server=options))
    assert server.notify.messages[-1]["STATUS"].endswith(f"with {workers} workers")
    assert len(children_of(server.process.pid)) == workers

    server.config.write_text(server_config(tmp_path, "bob = builder\n", server=options))
    server.send_signal(signal.SIGHUP)
    server.notify.wait_for("RELOADING", "1")
    server.notify.wait_for("READY", "1")
    # No polling: READY=1 after a reload means done.  Fresh connections are
    # spread over every worker's socket (SO_REUSEPORT).
    statuses = [(server.request("GET", "/ip", BOB)[0], server.request("GET", "/ip", ALICE)[0])
                for _ in range(20)]
    assert statuses == [(200, 401)] * 20, "a worker still served the old users"
    assert "did not confirm" not in server.stderr()
    assert server.stderr().count("info: reloaded") == 1, "the supervisor speaks for all"
    assert server.stop() == 0


def test_a_killed_worker_is_replaced(tmp_path, start_server):
    server = start_server(server_config(tmp_path, server="workers = 2\n"))
    main_pid = server.process.pid
    workers = children_of(main_pid)
    assert len(workers) == 2
    victim = next(iter(workers))
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: victim not in children_of(main_pid)
               and len(children_of(main_pid)) == 2, "the killed worker replaced")
    assert f"worker {victim} exited (killed by SIGKILL); starting another" in server.stderr()
    assert all(server.request("GET", "/ip", ALICE)[0] == 200 for _ in range(10))
    assert server.stop() == 0
    assert not children_of(main_pid)


def test_workers_refuse_bad_reload_in_the_main_process(tmp_path, start_server):
    server = start_server(server_config(tmp_path, server="workers = 2\n"))
    server.config.write_text("[Server]\nthreads = many\n")
    server.send_signal(signal.SIGHUP)
    server.notify.wait_for("READY", "1")
    assert server.request("GET", "/ip", ALICE)[0] == 200
    assert "reload refused" in server.stderr() and "threads = 'many'" in server.stderr()


def test_not_under_systemd_logs_plainly_to_stderr(tmp_path):
    config = tmp_path / "server.ini"
    config.write_text(server_config(tmp_path, listen="127.0.0.1:0"))
    process = subprocess.Popen(
        [sys.executable, "-m", "chipmunk.server.cli", "--config", str(config)],
        env=child_env(), stderr=subprocess.PIPE, text=True)
    try:
        line = process.stderr.readline()
        assert line.startswith("warning: ") and "plain-text password" in line
        assert process.stderr.readline().startswith("info: listening on 127.0.0.1:")
    finally:
        process.terminate()
        assert process.wait(timeout=WAIT) == 0


def test_vanished_notify_socket_does_not_orphan_workers(tmp_path, start_server):
    """systemd's socket going away (a closed reader) must not break the stop."""
    server = start_server(server_config(tmp_path, server="workers = 2\n"))
    workers = children_of(server.process.pid)
    assert len(workers) == 2
    server.notify.close()
    server.notify.path.unlink()
    assert server.stop() == 0
    assert "cannot notify systemd" in server.stderr()
    wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers),
               "no worker left behind")


def running(pid: int) -> bool:
    """Not exited (a zombie waiting for its new parent to reap it has exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_workers_stop_when_their_supervisor_is_killed(tmp_path, start_server):
    """SIGKILL of the main process (the OOM killer, kill -9 outside systemd) left
    its workers serving the old config beside the next server, for good."""
    server = start_server(server_config(tmp_path, listen="127.0.0.1:0",
                                        server="workers = 2\n"))
    workers = children_of(server.process.pid)
    assert len(workers) == 2
    assert server.request("GET", "/ip", ALICE)[0] == 200
    server.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    wait_until(lambda: not any(running(pid) for pid in workers), "the workers to stop",
               timeout=5, interval=0.01)
    stopped_after = time.monotonic() - killed
    assert stopped_after < 1.0, f"the workers took {stopped_after:.2f}s"
    host, port = server.addresses[0]
    listening = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True,
                               text=True, timeout=WAIT).stdout
    # the port is closed -- or, under a parallel run, another test's server got it
    assert not any(f"pid={pid}," in listening for pid in [server.process.pid, *workers]), \
        listening
