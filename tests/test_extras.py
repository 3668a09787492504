"""Each program runs with only the libraries its own package depends on.

chipmunk-server's package does not depend on requests, nor does the
wheel without extras; chipmunk-server imported it anyway (through the
provider registry), so on a machine without it the server could not start.
Here a sitecustomize makes ``import requests`` fail in the child processes.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from helpers import REPO, WAIT, basic, child_env, server_config, write_client_config


@pytest.fixture
def without_requests(tmp_path) -> dict[str, str]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import sys\nsys.modules['requests'] = None  # not installed\n")
    return {"PYTHONPATH": f"{site}:{REPO}"}


@pytest.mark.parametrize("program", ["server", "client"])
@pytest.mark.parametrize("option", ["--version", "--help"])
def test_version_and_help_need_no_extra(without_requests, program, option):
    result = subprocess.run([sys.executable, "-m", f"chipmunk.{program}", option],
                            capture_output=True, text=True, timeout=WAIT,
                            env=child_env(**without_requests))
    assert result.returncode == 0 and f"chipmunk-{program}" in result.stdout, result.stderr


def test_the_server_serves_without_requests(tmp_path, start_server, without_requests):
    server = start_server(server_config(tmp_path / "state", listen="127.0.0.1:0"),
                          **without_requests)
    status, _, body = server.request("GET", "/ip", {"Authorization": basic("alice",
                                                                           "wonderland")})
    assert (status, body) == (200, b"127.0.0.1\n")


def test_the_client_names_the_missing_library_and_how_to_install_it(tmp_path,
                                                                    without_requests):
    config = write_client_config(tmp_path / "client.ini", "http://127.0.0.1:9",
                                 tmp_path / "client-state")
    result = subprocess.run([sys.executable, "-m", "chipmunk.client", "--config",
                             str(config), "once"], capture_output=True, text=True,
                            timeout=WAIT, env=child_env(**without_requests))
    assert result.returncode == 78
    assert "requests" in result.stderr and "apt install python3-requests" in result.stderr
    assert "Traceback" not in result.stderr
