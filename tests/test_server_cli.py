"""The chipmunk-server command line, run as a real command."""
from __future__ import annotations

import configparser
import subprocess
import sys

import pytest

from chipmunk.server.passwords import parse_hash
from helpers import WAIT, basic, child_env, server_config


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chipmunk.server.cli", *args],
                          input=stdin, capture_output=True, text=True, timeout=WAIT,
                          env=child_env())


def test_check_good_config(tmp_path):
    config = tmp_path / "server.ini"
    config.write_text(f"[Paths]\nclient_update_dir = {tmp_path}\n[Users]\nalice = pw\n")
    result = run("--config", str(config), "check")
    assert result.returncode == 0
    shown = configparser.ConfigParser(interpolation=None)
    shown.read_string(result.stdout)
    assert dict(shown["Users"]) == {"alice": "********"}, "the password is masked"
    assert shown["Paths"]["client_update_dir"] == str(tmp_path)
    assert shown["Server"]["listen"] == "127.0.0.1:8080"
    assert result.stdout.endswith(f"# {config}: OK: 1 users, listen 127.0.0.1:8080, "
                                  f"state in {tmp_path}\n")
    assert "warning: " in result.stderr and "plain-text password" in result.stderr


def test_check_bad_config_exits_78_with_one_line(tmp_path):
    config = tmp_path / "server.ini"
    config.write_text("[Server]\nworkers = -1\n")
    result = run("--config", str(config), "check")
    assert result.returncode == 78
    assert result.stderr == (f"error: {config} [Server] workers = '-1': "
                             "expected a number from 1 to 64\n")


def test_missing_default_config_is_78(tmp_path):
    result = run("--config", str(tmp_path / "absent.ini"))
    assert result.returncode == 78 and "file not found" in result.stderr


def test_hash_password_from_stdin():
    result = run("hash-password", stdin="s3cret\n")
    assert result.returncode == 0
    assert parse_hash(result.stdout.strip()).verify(b"s3cret")


def test_hash_password_refuses_empty():
    assert run("hash-password", stdin="\n").returncode == 65


def test_help_explains_commands_and_api():
    result = run("--help")
    assert result.returncode == 0
    for words in ("hash-password", "sample-config", "GET /get/ip.json", "--config PATH",
                  "/etc/chipmunk/server.ini", "65 an empty password", "78 bad config"):
        assert words in result.stdout


def test_check_names_a_state_directory_that_cannot_be_made(tmp_path):
    (tmp_path / "file").write_text("a file where a directory should be")
    config = tmp_path / "server.ini"
    config.write_text(f"[Paths]\nclient_update_dir = {tmp_path}/file/state\n[Users]\n")
    result = run("--config", str(config), "check")
    assert result.returncode == 78
    assert f"[Paths] client_update_dir = '{tmp_path}/file/state'" in result.stderr
    assert "is not a directory" in result.stderr


def test_a_hand_run_server_makes_its_missing_state_directory(tmp_path, start_server):
    state = tmp_path / "not" / "yet"
    server = start_server(server_config(state, listen="127.0.0.1:0"))
    assert state.is_dir() and state.stat().st_mode & 0o777 == 0o750
    status, _, body = server.request("GET", "/set", {"Authorization": basic("alice",
                                                                            "wonderland")})
    assert status == 200 and (state / "alice.cm").read_text() == "127.0.0.1\n"


@pytest.mark.parametrize("program", ["server", "client"])
def test_both_programs_run_from_a_checkout_with_python_m(program):
    result = subprocess.run([sys.executable, "-m", f"chipmunk.{program}", "--version"],
                            capture_output=True, text=True, timeout=WAIT, env=child_env())
    assert result.returncode == 0 and result.stdout.startswith(f"chipmunk-{program} ")
