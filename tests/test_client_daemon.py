"""``chipmunk-client run`` under a stand-in for systemd: notify, signals, waits."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from chipmunk.client.daemon import Backoff
from chipmunk.client.state import RecordResult, RecordState
from chipmunk.client.updater import due_reason
from helpers import WAIT, NotifySocket, child_env, client_config, wait_until


class ClientProcess:
    def __init__(self, tmp_path, config_text: str, **env: str) -> None:
        self.config = tmp_path / "client.ini"
        self.config.write_text(config_text)
        self.config.chmod(0o600)
        self.notify = NotifySocket(tmp_path / "client-notify.sock")
        self.stderr_path = tmp_path / "client.stderr"
        with open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "chipmunk.client.cli", "--config", str(self.config),
                 "run"], env=child_env(NOTIFY_SOCKET=str(self.notify.path), **env),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def status(self, containing: str) -> str:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            message = self.notify.wait_for("STATUS", timeout=deadline - time.monotonic())
            if containing in message["STATUS"]:
                return message["STATUS"]
        raise AssertionError(f"no STATUS with {containing!r}: {self.notify.messages}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=WAIT)
        finally:
            self.notify.close()



@pytest.fixture
def start_client(tmp_path):
    started = []

    def start(config_text: str, **env: str) -> ClientProcess:
        client = ClientProcess(tmp_path, config_text, **env)
        started.append(client)
        return client

    yield start
    for client in started:
        client.stop()


def hosts_config(chipmunk_server, tmp_path, names="home.lan home", extra="") -> str:
    return client_config(chipmunk_server.endpoint, tmp_path / "state", "hostsfile",
                         f"[hostsfile]\npath = {tmp_path / 'hosts'}\nnames = {names}\n"
                         f"[Daemon]\ninterval = 3600\n{extra}")


def test_ready_status_and_watchdog(tmp_path, chipmunk_server, start_client):
    client = start_client(hosts_config(chipmunk_server, tmp_path), WATCHDOG_USEC="200000")
    client.notify.wait_for("READY", "1")
    assert client.status("Address") == "Address 127.0.0.1 (checked: start); next check in 60 min"
    assert (tmp_path / "hosts").read_text() == "127.0.0.1 home.lan home\n"
    client.notify.wait_for("WATCHDOG", "1")
    client.notify.wait_for("WATCHDOG", "1")
    assert client.stop() == 0


def test_no_wakeups_between_checks_without_a_watchdog(tmp_path, chipmunk_server, start_client):
    client = start_client(hosts_config(chipmunk_server, tmp_path))
    client.status("Address 127.0.0.1")
    assert client.notify.receive(timeout=1.0) is None, "nothing until the next check"
    assert client.stop() == 0


def test_sighup_reloads_and_checks_again(tmp_path, chipmunk_server, start_client):
    client = start_client(hosts_config(chipmunk_server, tmp_path))
    client.status("Address 127.0.0.1")
    client.config.write_text(hosts_config(chipmunk_server, tmp_path, names="nas.lan"))
    client.process.send_signal(signal.SIGHUP)
    reloading = client.notify.wait_for("RELOADING", "1")
    assert int(reloading["MONOTONIC_USEC"]) > 0
    client.notify.wait_for("READY", "1")
    client.status("Address 127.0.0.1")
    assert (tmp_path / "hosts").read_text() == ("127.0.0.1 home.lan home\n"
                                                "127.0.0.1 nas.lan\n")
    assert "reloaded" in client.stderr()
    assert client.stop() == 0


def test_invalid_config_on_reload_keeps_the_old_one(tmp_path, chipmunk_server, start_client):
    client = start_client(hosts_config(chipmunk_server, tmp_path))
    client.status("Address 127.0.0.1")
    client.config.write_text(hosts_config(chipmunk_server, tmp_path).replace(
        "interval = 3600", "interval = often"))
    client.process.send_signal(signal.SIGHUP)
    client.notify.wait_for("READY", "1")
    assert "reload refused, still running the previous configuration" in client.stderr()
    assert "[event=reload-failed]" in client.stderr()
    assert "interval = 'often'" in client.stderr()
    assert client.process.poll() is None
    assert client.stop() == 0


def test_sigusr1_reopens_a_moved_logfile(tmp_path, chipmunk_server, start_client):
    log = tmp_path / "client.log"
    client = start_client(hosts_config(chipmunk_server, tmp_path, extra=f"logfile = {log}\n"))
    client.status("Address 127.0.0.1")
    assert "public address is now 127.0.0.1" in log.read_text()
    log.rename(tmp_path / "client.log.1")
    client.process.send_signal(signal.SIGUSR1)
    wait_until(log.exists, f"{log} opened anew")
    wait_until(lambda: "reopened the log file" in log.read_text(), "the reopening logged")
    assert "reopened" not in (tmp_path / "client.log.1").read_text()
    assert client.stop() == 0


def test_sigterm_during_a_wait_stops_within_a_second(tmp_path, chipmunk_server, start_client):
    client = start_client(hosts_config(chipmunk_server, tmp_path))
    client.status("next check in 60 min")
    started = time.monotonic()
    client.process.send_signal(signal.SIGTERM)
    assert client.process.wait(timeout=WAIT) == 0
    assert time.monotonic() - started < 1.0
    assert client.notify.wait_for("STOPPING", "1")["STATUS"] == "Stopping"


def test_temporary_failure_backs_off(tmp_path, start_client):
    config = client_config("127.0.0.1:9", tmp_path / "state") + "[Daemon]\ninterval = 3600\n"
    client = start_client(config)
    status = client.status("Address unknown")
    assert "(retrying after a failure)" in status
    seconds = int(status.split("next check in ")[1].split(" s")[0])
    assert 7 <= seconds <= 15, "the first retry comes after 7.5 to 15 s, not an hour"
    assert client.stop() == 0


def test_backoff_doubles_with_jitter_up_to_the_cap():
    high = Backoff(cap=300, rng=lambda: 1.0)
    assert [high.next_delay() for _ in range(7)] == [15, 30, 60, 120, 240, 300, 300]
    low = Backoff(cap=300, rng=lambda: 0.0)
    assert [low.next_delay() for _ in range(3)] == [7.5, 15, 30]
    low.reset()
    assert low.next_delay() == 7.5
    assert low.next_delay(retry_after=900) == 900, "Retry-After is honoured"


DAY = 86400.0


@pytest.mark.parametrize("record, now, force, expected", [
    (RecordState(), 1000.0, False, "the address changed"),
    (RecordState(address="192.0.2.1", updated_at=1000.0), 1000.0, False, None),
    (RecordState(address="192.0.2.9", updated_at=1000.0), 1000.0, False,
     "the address changed"),
    (RecordState(address="192.0.2.1", updated_at=1000.0), 1000.0 + 7 * DAY, False,
     "a refresh is due"),
    (RecordState(address="192.0.2.1", updated_at=1000.0, result=RecordResult.FAILED), 1001.0, False,
     "the last update failed"),
    (RecordState(address="192.0.2.1", result=RecordResult.FAILED, retry_not_before=2000.0), 1500.0,
     False, None),
    (RecordState(result=RecordResult.NEEDS_ATTENTION, config_fingerprint="same"), 1000.0,
     False, None),
    (RecordState(result=RecordResult.NEEDS_ATTENTION, config_fingerprint="older"), 1000.0, False,
     "its configuration changed"),
    (RecordState(address="192.0.2.1", updated_at=1000.0), 1000.0, True, "forced"),
])
def test_when_a_record_is_due(record, now, force, expected):
    assert due_reason(record, "192.0.2.1", now, 7 * DAY, "same", force) == expected


def test_status_shows_both_families(tmp_path, chipmunk_server, start_client):
    config = client_config(chipmunk_server.endpoint, tmp_path / "state", "hostsfile",
                           f"[hostsfile]\npath = {tmp_path / 'hosts'}\nnames = home.lan\n"
                           "record_types = A, AAAA\n[Daemon]\ninterval = 3600\n",
                           endpoint6=chipmunk_server.endpoint6)
    client = start_client(config)
    assert client.status("Address") == \
        "Address 127.0.0.1, ::1 (checked: start); next check in 60 min"
    assert client.stop() == 0
