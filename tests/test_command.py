"""The command provider through the real client: argv, environment, exit codes."""
from __future__ import annotations

import stat
import subprocess

from helpers import make_refresh_due, run_client, write_provider_config


def write(tmp_path, chipmunk_server, body: str, extra: str = "",
          record_types: str = "A, AAAA"):
    program = tmp_path / "hook"
    program.write_text(f"#!/bin/sh\n{body}\n")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    section = (f"[command]\ncommand = {program} --zone 'home net'\nhost = home, router\n"
               f"record_types = {record_types}\n{extra}")
    return write_provider_config(tmp_path, chipmunk_server, "command", section)


RECORD_CALL = ('echo "$CHIPMUNK_RECORD $CHIPMUNK_RECORD_TYPE $CHIPMUNK_IP '
               '${CHIPMUNK_OLD_IP:--}" >> "$0.env"')


def test_runs_with_the_record_and_the_address(tmp_path, chipmunk_server):
    config = write(tmp_path, chipmunk_server, RECORD_CALL)
    result = run_client(config, "once")
    assert result.returncode == 0, result.stderr
    assert sorted((tmp_path / "hook.env").read_text().splitlines()) == [
        "home A 127.0.0.1 -", "home AAAA ::1 -", "router A 127.0.0.1 -",
        "router AAAA ::1 -"]

    unchanged = run_client(config, "once")
    assert unchanged.returncode == 0
    assert len((tmp_path / "hook.env").read_text().splitlines()) == 4, \
        "nothing due: it does not run (it cannot compare)"

    make_refresh_due(tmp_path)
    assert run_client(config, "once").returncode == 0
    assert sorted((tmp_path / "hook.env").read_text().splitlines())[-1] == \
        "router AAAA ::1 ::1", "CHIPMUNK_OLD_IP is the address it last set"


def test_argv_is_split_like_a_shell_without_one(tmp_path, chipmunk_server):
    config = write(tmp_path, chipmunk_server, 'printf "[%s]" "$@" > "$0.argv"',
                   record_types="A")
    config.write_text(config.read_text().replace("host = home, router", "host = home"))
    assert run_client(config, "once").returncode == 0
    assert (tmp_path / "hook.argv").read_text() == "[--zone][home net][home][A][127.0.0.1]"


def test_exit_75_is_retried_and_others_need_a_person(tmp_path, chipmunk_server):
    config = write(tmp_path, chipmunk_server, "exit 75", record_types="A")
    later = run_client(config, "once")
    assert later.returncode == 75, later.stderr
    assert "exited with status 75" in later.stderr

    config = write(tmp_path, chipmunk_server, "echo 'allowlist is full' >&2; exit 2",
                   record_types="A")
    refused = run_client(config, "once")
    assert refused.returncode == 77, refused.stderr
    assert "exited with status 2: allowlist is full" in refused.stderr
    assert "needs attention" in refused.stderr


SLEEPER = "/usr/bin/python3 -c 'import time; time.sleep(60)'"


def test_a_program_that_hangs_is_killed_with_its_children(tmp_path, chipmunk_server):
    marker = f"chipmunk-test-{tmp_path.name}"
    config = write(tmp_path, chipmunk_server,
                   f"{SLEEPER} {marker} & {SLEEPER} {marker}",
                   "timeout = 1\n", record_types="A")
    config.write_text(config.read_text().replace("host = home, router", "host = home"))
    result = run_client(config, "once")
    assert result.returncode == 75, result.stderr
    assert "did not finish within 1s (killed)" in result.stderr
    left = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    assert left.stdout == "", "the whole process group is gone"


def test_check_refuses_a_relative_program(tmp_path, chipmunk_server):
    config = write(tmp_path, chipmunk_server, "true")
    config.write_text(config.read_text().replace(f"command = {tmp_path}/hook", "command = hook"))
    result = run_client(config, "check")
    assert result.returncode == 78
    assert "[command] command = \"hook --zone 'home net'\": 'hook': give the program's " \
        "absolute path" in result.stderr
