"""The updater's decisions in-process: a fake provider, a fake discovery, a clock.

What is decided here: when a record is written, what the state file keeps,
which exit code a cycle ends with.  The real server and real providers are
exercised by tests/test_client_once.py and the provider tests.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from chipmunk.cli import ExitCode
from chipmunk.client.discovery import Discovered
from chipmunk.client.settings import load_settings
from chipmunk.client.state import RecordResult, StateStore
from chipmunk.client.updater import Updater
from chipmunk.errors import CredentialsRefused, Misconfigured, TemporaryError, UpdateError
from chipmunk.providers import Current, DNSProvider, Record
from helpers import client_config

HOUR = 3600.0


class FakeProvider(DNSProvider):
    """Keeps records in a dict; ``fail_with`` makes the next writes fail."""

    name = "hostsfile"

    def __init__(self) -> None:
        super().__init__({}, 5)
        self.records: dict[str, str] = {}
        self.writes: list[tuple[str, str]] = []
        self.fail_with: UpdateError | None = None

    def names(self) -> list[str]:
        return ["home.example.org"]

    def read(self, record: Record) -> Current:
        return Current(self.records.get(record.rtype))

    def write(self, record: Record, address: str, current: Current) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.records[record.rtype] = address
        self.writes.append((record.rtype, address))


class World:
    """The addresses discovery finds, the wall clock, the provider and the state."""

    def __init__(self, tmp_path: Path, extra: str = "") -> None:
        config = tmp_path / "client.ini"
        config.write_text(client_config(
            "https://chipmunk.example.org", tmp_path / "state", "hostsfile",
            f"[hostsfile]\npath = {tmp_path}/hosts\nnames = home\nrecord_types = A, AAAA\n"
            + extra))
        config.chmod(0o600)
        self.settings = load_settings(config)
        self.addresses = {"A": "192.0.2.1"}
        self.errors: list[UpdateError] = []
        self.now = 1_000_000.0
        self.provider = FakeProvider()
        self.updater = Updater(self.settings, clock=lambda: self.now,
                               discover=lambda settings, web: Discovered(
                                   dict(self.addresses), list(self.errors)),
                               providers={"hostsfile": self.provider})
        self.store = StateStore(self.settings.state_dir)

    def record(self, rtype: str = "A"):
        return self.store.load().records[f"hostsfile home.example.org {rtype}"]


@pytest.fixture
def world(tmp_path) -> World:
    return World(tmp_path)


def test_writes_once_then_nothing_while_nothing_changes(world):
    assert world.updater.cycle().exit_code == ExitCode.OK
    assert world.provider.writes == [("A", "192.0.2.1")]
    for _ in range(3):
        world.now += 300
        assert world.updater.cycle().exit_code == ExitCode.OK
    assert world.provider.writes == [("A", "192.0.2.1")], "no provider call while unchanged"
    assert world.record().result is RecordResult.UPDATED


def test_an_address_change_is_written(world):
    world.updater.cycle()
    world.addresses = {"A": "192.0.2.2", "AAAA": "2001:db8::2"}
    world.updater.cycle()
    assert world.provider.writes[1:] == [("A", "192.0.2.2"), ("AAAA", "2001:db8::2")]


def test_a_family_lost_for_a_cycle_leaves_its_record_alone(world):
    world.addresses = {"A": "192.0.2.1", "AAAA": "2001:db8::1"}
    world.updater.cycle()
    world.addresses = {"A": "192.0.2.1"}
    world.errors = [TemporaryError("endpoint6: no answer")]
    result = world.updater.cycle()
    assert result.exit_code == ExitCode.TEMPFAIL and result.temporary
    assert world.provider.records["AAAA"] == "2001:db8::1"
    assert world.record("AAAA").address == "2001:db8::1"


def test_a_refresh_is_due_after_max_interval(world):
    world.updater.cycle()
    world.provider.records["A"] = "198.51.100.9"  # edited elsewhere
    world.now += 7 * 24 * HOUR - 1
    world.updater.cycle()
    assert len(world.provider.writes) == 1, "not yet due"
    world.now += 1
    world.updater.cycle()
    assert world.provider.writes[-1] == ("A", "192.0.2.1") and len(world.provider.writes) == 2


def test_a_temporary_failure_is_retried_next_cycle_unless_told_to_wait(world):
    world.provider.fail_with = TemporaryError("rate limited", retry_after=600)
    result = world.updater.cycle()
    assert (result.exit_code, result.retry_after) == (ExitCode.TEMPFAIL, 600)
    assert world.record().result is RecordResult.FAILED
    world.provider.fail_with = None
    world.now += 300
    world.updater.cycle()
    assert world.provider.writes == [], "Retry-After is honoured"
    world.now += 300
    assert world.updater.cycle().exit_code == ExitCode.OK
    assert world.provider.writes == [("A", "192.0.2.1")]


def test_needs_attention_waits_for_the_provider_section_to_change(world, tmp_path):
    world.provider.fail_with = CredentialsRefused("token refused")
    assert world.updater.cycle().exit_code == ExitCode.NOPERM
    world.provider.fail_with = None
    world.now += HOUR
    assert world.updater.cycle().exit_code == ExitCode.NOPERM, "still reported"
    assert world.provider.writes == [], "not retried with the same configuration"
    reloaded = World(tmp_path)  # the same file again: the same fingerprint
    reloaded.now = world.now
    assert reloaded.updater.cycle().exit_code == ExitCode.NOPERM
    edited = World(tmp_path)
    edited.settings.provider_values["hostsfile"]["names"] = ("home", "nas")
    edited.now = world.now
    assert edited.updater.cycle().exit_code == ExitCode.OK
    assert edited.provider.writes == [("A", "192.0.2.1")]


def test_force_writes_even_when_nothing_changed(world):
    world.updater.cycle()
    world.updater.cycle(force=True)
    assert world.provider.writes == [("A", "192.0.2.1")] * 2


def test_a_dry_run_writes_nothing_and_remembers_nothing(world):
    world.updater.cycle(dry_run=True)
    assert world.provider.writes == []
    assert world.store.load().records == {} and world.store.load().addresses == {}


def test_the_worst_outcome_decides_the_exit_code(world):
    world.addresses = {"A": "192.0.2.1", "AAAA": "2001:db8::1"}
    world.errors = [TemporaryError("server timeout")]
    world.provider.fail_with = Misconfigured("refused")
    assert world.updater.cycle().exit_code == ExitCode.CONFIG
