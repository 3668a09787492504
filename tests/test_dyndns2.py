"""The dyndns2 provider against a local fake dyndns2 service."""
from __future__ import annotations

import json

import pytest

from fake_dyndns2 import FakeDynDNS2
from helpers import run_client, write_provider_config


@pytest.fixture
def dyndns():
    fake = FakeDynDNS2()
    yield fake
    fake.close()


def write(tmp_path, chipmunk_server, dyndns, password="update-key", record_types="A",
          extra=""):
    section = (f"[dyndns2]\nserver = {dyndns.url}\nusername = me\npassword = {password}\n"
               f"hostname = home.example.org\nrecord_types = {record_types}\n{extra}")
    return write_provider_config(tmp_path, chipmunk_server, "dyndns2", section)


def test_updates_on_change_only(tmp_path, chipmunk_server, dyndns):
    config = write(tmp_path, chipmunk_server, dyndns, record_types="A, AAAA")
    result = run_client(config, "once")
    assert result.returncode == 0, result.stderr
    queries = [r["query"] for r in dyndns.requests]
    assert {"hostname": ["home.example.org"], "myip": ["127.0.0.1"]} in queries
    assert {"hostname": ["home.example.org"], "myipv6": ["::1"]} in queries
    assert all(r["path"] == "/nic/update" and r["agent"].startswith("chipmunk/")
               for r in dyndns.requests)
    assert "updated: (unknown) -> 127.0.0.1" in result.stderr
    again = run_client(config, "once")
    assert again.returncode == 0
    assert len(dyndns.requests) == 2, "no request while nothing changed: nochg never provoked"


def test_nochg_is_success(tmp_path, chipmunk_server, dyndns):
    dyndns.answers.append("nochg 127.0.0.1")
    assert run_client(write(tmp_path, chipmunk_server, dyndns), "once").returncode == 0


@pytest.mark.parametrize("answer, code", [
    ("badauth", 77), ("!donator", 77), ("abuse", 77), ("notfqdn", 78), ("nohost", 78),
    ("numhost", 78), ("badagent", 77),
])
def test_answers_that_stop_the_record(tmp_path, chipmunk_server, dyndns, answer, code):
    dyndns.answers.append(answer)
    config = write(tmp_path, chipmunk_server, dyndns)
    result = run_client(config, "once")
    assert result.returncode == code, result.stderr
    assert f"dyndns2: home.example.org: {answer}: " in result.stderr
    assert "needs attention" in result.stderr
    again = run_client(config, "once")
    assert again.returncode == code
    assert len(dyndns.requests) == 1, "stopped until the config changes"
    commented = run_client(write(tmp_path, chipmunk_server, dyndns, extra="# edited\n"),
                           "once")
    assert commented.returncode == code
    assert len(dyndns.requests) == 1, "a comment is no change of configuration"
    config.write_text(config.read_text().replace("http://127.0.0.1:", "http://localhost:"))
    fixed = run_client(config, "once")
    assert fixed.returncode == 0, fixed.stderr
    assert len(dyndns.requests) == 2, "retried once the section changed"


def test_wrong_password_is_badauth(tmp_path, chipmunk_server, dyndns):
    result = run_client(write(tmp_path, chipmunk_server, dyndns, password="nope"), "once")
    assert result.returncode == 77
    assert "badauth: the username or password is wrong" in result.stderr


@pytest.mark.parametrize("answer", ["dnserr", "911"])
def test_server_trouble_waits_30_minutes(tmp_path, chipmunk_server, dyndns, answer):
    dyndns.answers.append(answer)
    config = write(tmp_path, chipmunk_server, dyndns)
    result = run_client(config, "once")
    assert result.returncode == 75
    assert "retrying in 30 minutes" in result.stderr
    state = json.loads((tmp_path / "state" / "state.json").read_text())
    record = state["records"]["dyndns2 home.example.org A"]
    assert record["retry_not_before"] - record["attempted_at"] == 1800
    assert run_client(config, "once").returncode == 0
    assert len(dyndns.requests) == 1, "not retried sooner"


@pytest.mark.parametrize("answer", [" ", "<html>oops</html>", "goodbye"])
def test_garbage_is_temporary(tmp_path, chipmunk_server, dyndns, answer):
    dyndns.answers.append(answer)
    result = run_client(write(tmp_path, chipmunk_server, dyndns), "once")
    assert result.returncode == 75
    assert "unexpected answer" in result.stderr
