"""The lockout counts an IPv6 client's whole /64, with real sockets: in a
network namespace the test creates, clients connect from many addresses of
one /64 (as one host rotating through its prefix would) to a real server.
"""
from __future__ import annotations

import sys

import pytest

from helpers import NotifySocket, server_config, stop_process
from netns import Namespace

SERVER = "2001:db8:1:2::1"
PORT = 18080


@pytest.fixture
def server(tmp_path):
    namespace = Namespace()
    for address in (SERVER, "2001:db8:1:3::1", *(f"2001:db8:1:2::{n:x}" for n in
                                                  range(0x10, 0x20))):
        namespace.ip("addr", "add", f"{address}/64", "dev", "lo", "nodad")
    state = tmp_path / "state"
    state.mkdir()
    config = tmp_path / "server.ini"
    config.write_text(server_config(
        state, listen=f"[{SERVER}]:{PORT}",
        server="workers = 2\nauth_failure_limit = 5\nauth_lockout = 300\n"))
    notify = NotifySocket(tmp_path / "notify.sock")
    process = namespace.popen([sys.executable, "-m", "chipmunk.server.cli", "--config",
                               str(config)], tmp_path / "server.stderr",
                              NOTIFY_SOCKET=str(notify.path))
    try:
        notify.wait_for("READY", "1")
        yield namespace
    finally:
        stop_process(process)
        notify.close()
        namespace.delete()


def status(namespace: Namespace, source: str, password: str) -> int:
    """The HTTP status curl gets from ``source`` (a new connection each time)."""
    return int(namespace.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                              "--interface", source, "-u", f"alice:{password}",
                              f"http://[{SERVER}]:{PORT}/get/ip"]))


def test_a_host_rotating_through_its_64_is_locked_out_as_one(server):
    sources = [f"2001:db8:1:2::{n:x}" for n in range(0x10, 0x20)]
    assert status(server, sources[0], "wonderland") == 200
    for source in sources[1:6]:  # auth_failure_limit = 5, each from a new address
        assert status(server, source, "wrong") == 401
    for source in sources[6:]:
        assert status(server, source, "wonderland") == 429, "the whole /64 is locked out"
    assert status(server, "2001:db8:1:3::1", "wonderland") == 200, "the next /64 is not"
