"""Fixtures shared by the tests; the helpers themselves live in helpers.py."""
from __future__ import annotations

import pytest

from bind import Named
from helpers import ServerProcess, server_config
from pdns import PowerDNS


@pytest.fixture
def start_server(tmp_path):
    """Start a configured server and wait for READY=1; always stopped afterwards."""
    started: list[ServerProcess] = []

    def start(config_text: str, extra_args: tuple[str, ...] = (), wait: bool = True,
              **env: str) -> ServerProcess:
        directory = tmp_path / f"server{len(started)}"
        directory.mkdir()
        server = ServerProcess(directory, config_text, **env)
        started.append(server)
        server.start(extra_args)
        if wait:
            server.wait_ready()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def chipmunk_server(tmp_path, start_server):
    """A server for client tests on 127.0.0.1 and ::1, with .endpoint, .endpoint6
    and .state (its client_update_dir)."""
    state = tmp_path / "server-state"
    state.mkdir()
    running = start_server(server_config(state, listen="127.0.0.1:0, [::1]:0"))
    (host4, port4), (host6, port6) = running.addresses
    running.endpoint = f"http://{host4}:{port4}"
    running.endpoint6 = f"http://[{host6}]:{port6}"
    running.state = state
    return running


@pytest.fixture
def named(tmp_path):
    """A real BIND9 with the test zone and TSIG keys (tests/bind.py)."""
    (tmp_path / "named").mkdir()
    server = Named(tmp_path / "named").start()
    yield server
    server.stop()


@pytest.fixture
def pdns(tmp_path):
    """A real PowerDNS with the test zone, for lexicon (tests/pdns.py)."""
    directory = tmp_path / "pdns"
    directory.mkdir()
    server = PowerDNS(directory).start()
    server.create_zone()
    yield server
    server.stop()
