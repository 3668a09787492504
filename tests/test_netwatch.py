"""The daemon reacts to the kernel's network events: in a network namespace
the test creates, with a veth pair, a real chipmunk-server and the daemon
(``ipv6_source = interface:d0``, the hostsfile provider) inside it.

Checks are counted by their STATUS= messages on a real notify socket; the
published address is read from the hosts file.
"""
from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

from helpers import WAIT, NotifySocket, server_config, stop_process, wait_until
from netns import Namespace

PORT = 18080  # the namespace is new: nothing else listens there


class Daemon:
    """chipmunk-server and ``chipmunk-client run`` inside the namespace."""

    def __init__(self, tmp_path: Path, namespace: Namespace, daemon: str = "",
                 debounce: str = "0.5", **env: str) -> None:
        self.namespace, self.tmp_path = namespace, tmp_path
        self.hosts = tmp_path / "hosts"
        state = tmp_path / "server-state"
        state.mkdir()
        server_ini = tmp_path / "server.ini"
        server_ini.write_text(server_config(state, listen=f"127.0.0.1:{PORT}"))
        self.server_notify = NotifySocket(tmp_path / "server.sock")
        self.server = namespace.popen(
            [sys.executable, "-m", "chipmunk.server.cli", "--config", str(server_ini)],
            tmp_path / "server.stderr", NOTIFY_SOCKET=str(self.server_notify.path))
        self.server_notify.wait_for("READY", "1")
        client_ini = tmp_path / "client.ini"
        client_ini.write_text(
            f"[Global]\nupdate_dns = yes\nstate_dir = {tmp_path}/state\n"
            "ipv6_source = interface:d0\n"
            f"[ChipmunkAPIServer]\nusername = alice\npassword = wonderland\n"
            f"endpoint = http://127.0.0.1:{PORT}\ntimeout = 5\n"
            f"[Daemon]\ninterval = 3600\ndebounce = {debounce}\n{daemon}"
            f"[dDNS]\nprovider = hostsfile\n"
            f"[hostsfile]\npath = {self.hosts}\nhost = home.lan\nrecord_types = A, AAAA\n")
        client_ini.chmod(0o600)
        self.notify = NotifySocket(tmp_path / "client.sock")
        self.stderr_path = tmp_path / "client.stderr"
        self.client = namespace.popen(
            [sys.executable, "-m", "chipmunk.client.cli", "--config", str(client_ini), "run"],
            self.stderr_path, NOTIFY_SOCKET=str(self.notify.path), **env)
        self.notify.wait_for("READY", "1")
        self.next_status()  # the first check, at start

    def next_status(self, timeout: float = WAIT) -> str:
        """The STATUS= of the next check."""
        return self.notify.wait_for("STATUS", timeout=timeout)["STATUS"]

    def no_check_within(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            message = self.notify.receive(remaining)
            assert not (message and "STATUS" in message), \
                f"an unexpected check: {message}\n{self.stderr()}"

    def published_ipv6(self) -> str | None:
        lines = self.hosts.read_text().splitlines() if self.hosts.exists() else []
        return next((line.split()[0] for line in lines if ":" in line.split()[0]), None)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wake_ups(self) -> int:
        """The daemon's voluntary context switches so far (each sleep it woke from)."""
        # `ip netns exec` execs the program: the child's pid is the daemon's
        assert "python" in Path(f"/proc/{self.client.pid}/comm").read_text()
        status = Path(f"/proc/{self.client.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines()
                        if line.startswith("voluntary_ctxt_switches")))

    def stop(self) -> None:
        for process in (self.client, self.server):
            stop_process(process)
        self.notify.close()
        self.server_notify.close()


@pytest.fixture
def namespace():
    created = Namespace()
    created.ip("addr", "add", "2001:db8:9::9/64", "dev", "d0", "nodad")
    yield created
    created.delete()


@pytest.fixture
def start_daemon(tmp_path, namespace):
    """Start a Daemon with these options; always stopped afterwards."""
    started: list[Daemon] = []

    def start(**options: str) -> Daemon:
        started.append(Daemon(tmp_path, namespace, **options))
        return started[-1]

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def daemon(start_daemon):
    return start_daemon()


def test_records_follow_address_changes(daemon, namespace):
    assert daemon.published_ipv6() == "2001:db8:9::9"
    namespace.ip("addr", "add", "2001:db8:5::5/64", "dev", "d0", "nodad")
    assert "checked: network change: address 2001:db8:5::5 added on d0" in \
        daemon.next_status()
    assert daemon.published_ipv6() == "2001:db8:5::5", "the lowest stable address"
    namespace.ip("addr", "del", "2001:db8:5::5/64", "dev", "d0")
    assert "address 2001:db8:5::5 removed on d0" in daemon.next_status()
    assert daemon.published_ipv6() == "2001:db8:9::9"


def test_a_default_route_and_a_link_coming_up_start_a_check(daemon, namespace):
    namespace.ip("-6", "route", "add", "default", "via", "2001:db8:9::1", "dev", "d0")
    assert "IPv6 default route added" in daemon.next_status()
    namespace.ip("link", "add", "e0", "type", "veth", "peer", "name", "e0p")
    namespace.ip("link", "set", "e0", "up")
    namespace.ip("link", "set", "e0p", "up")
    assert "came up" in daemon.next_status()


def test_temporary_tentative_and_local_addresses_are_ignored(daemon, namespace):
    # no carrier on t0: its address stays tentative (duplicate detection waits)
    namespace.ip("link", "add", "t0", "type", "veth", "peer", "name", "t0p")
    namespace.sysctl("net.ipv6.conf.t0.accept_dad=1")
    namespace.ip("link", "set", "t0", "up")
    daemon.no_check_within(1.5)
    namespace.ip("addr", "add", "2001:db8:7::7/64", "dev", "t0")
    namespace.ip("addr", "add", "fe80::77/64", "dev", "d0", "nodad")
    namespace.ip("addr", "add", "10.1.2.3/8", "dev", "d0", "scope", "link")
    namespace.ip("-6", "route", "add", "2001:db8:99::/48", "via", "2001:db8:9::1")
    # a temporary (RFC 4941) address made by the kernel from a mngtmpaddr one
    namespace.sysctl("net.ipv6.conf.d0.use_tempaddr=2")
    daemon.no_check_within(2.0)
    assert "tentative" in namespace.ip("-6", "addr", "show", "dev", "t0")
    assert daemon.published_ipv6() == "2001:db8:9::9"


def test_the_kernels_temporary_addresses_are_ignored(start_daemon, namespace):
    namespace.sysctl("net.ipv6.conf.d0.use_tempaddr=2")
    namespace.ip("addr", "add", "2001:db8:3::3/64", "dev", "d0", "mngtmpaddr", "nodad")
    wait_until(lambda: "temporary" in namespace.ip("-6", "addr", "show", "dev", "d0") and
               "tentative" not in namespace.ip("-6", "addr", "show", "dev", "d0"),
               "the kernel's temporary address")
    running = start_daemon()
    temporary = next(line.split()[1] for line in
                     namespace.ip("-6", "addr", "show", "dev", "d0").splitlines()
                     if "temporary" in line)
    assert running.published_ipv6() == "2001:db8:3::3", "never the temporary one"
    namespace.ip("addr", "del", temporary, "dev", "d0")
    running.no_check_within(2.0)


def test_a_burst_of_twenty_events_is_one_check(daemon, namespace):
    for n in range(20):
        namespace.ip("addr", "add", f"2001:db8:6::{n + 1:x}/64", "dev", "d0", "nodad")
    assert "(checked: network change" in daemon.next_status()
    daemon.no_check_within(2.0)
    assert daemon.published_ipv6() == "2001:db8:6::1"


def test_idle_it_sleeps_in_one_wait(daemon):
    """No events, no watchdog: no wake-ups at all over 3 s."""
    time.sleep(1)  # the namespace settles (nothing to wait for: it just gets quiet)
    before = daemon.wake_ups()
    time.sleep(3)  # measuring an idle process: there is nothing to wait for
    assert daemon.wake_ups() - before == 0


def test_with_a_watchdog_it_wakes_only_to_ping(start_daemon):
    running = start_daemon(WATCHDOG_USEC="1000000")  # a ping every 0.5 s
    time.sleep(1)  # the namespace settles
    before, pings = running.wake_ups(), 0
    deadline = time.monotonic() + 3
    while (remaining := deadline - time.monotonic()) > 0:
        message = running.notify.receive(remaining)
        pings += bool(message and message.get("WATCHDOG") == "1")
    woke = running.wake_ups() - before
    assert pings >= 5 and woke <= pings + 1, (woke, pings)


def test_a_reload_during_the_debounce_is_not_lost(start_daemon, namespace):
    running = start_daemon(debounce="10")
    namespace.ip("addr", "add", "2001:db8:5::5/64", "dev", "d0", "nodad")
    time.sleep(0.5)  # the event has arrived: the daemon now waits out the debounce
    running.client.send_signal(signal.SIGHUP)
    started = time.monotonic()
    assert running.notify.wait_for("RELOADING", "1", timeout=5)
    while "(checked: reload)" not in running.next_status(timeout=5):
        pass
    assert time.monotonic() - started < 5, "the reload did not wait for the debounce"
    assert running.published_ipv6() == "2001:db8:5::5"


def test_watch_network_no_keeps_the_interval_only(start_daemon, namespace):
    running = start_daemon(daemon="watch_network = no\n")
    namespace.ip("addr", "add", "2001:db8:5::5/64", "dev", "d0", "nodad")
    running.no_check_within(2.0)
    assert running.published_ipv6() == "2001:db8:9::9"
