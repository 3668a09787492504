"""Fixtures shared by the tests; the helpers themselves live in helpers.py."""
from __future__ import annotations

import pytest

from helpers import ServerProcess

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
