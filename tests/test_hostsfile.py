"""The hostsfile provider keeps its own line and leaves every other line alone."""
from __future__ import annotations

import pytest

from chipmunk.providers import Change, Record
from chipmunk.providers.hostsfile import HostsFileProvider, to_names

OTHERS = ("# managed by hand\n127.0.0.1 localhost\n192.0.2.5 printer.lan\n"
          "2001:db8::7 home.lan home\n")


def provider(tmp_path, names=("home.lan", "home")) -> HostsFileProvider:
    return HostsFileProvider({"path": tmp_path / "hosts", "names": names}, timeout=5)


def test_adds_its_line_and_keeps_the_rest(tmp_path):
    (tmp_path / "hosts").write_text(OTHERS)
    hosts = provider(tmp_path)
    record = Record("hostsfile", "home.lan home", "A")
    assert hosts.update(record, "198.51.100.4").change is Change.CREATED
    assert (tmp_path / "hosts").read_text() == OTHERS + "198.51.100.4 home.lan home\n"
    assert hosts.update(record, "198.51.100.4").change is Change.UNCHANGED
    assert hosts.update(record, "198.51.100.5").change is Change.UPDATED
    assert (tmp_path / "hosts").read_text() == OTHERS + "198.51.100.5 home.lan home\n"


def test_ipv6_line_is_its_own(tmp_path):
    (tmp_path / "hosts").write_text(OTHERS + "198.51.100.4 home.lan home\n")
    hosts = provider(tmp_path)
    record = Record("hostsfile", "home.lan home", "AAAA")
    assert hosts.read(record).address == "2001:db8::7"
    hosts.update(record, "2001:db8::8")
    assert (tmp_path / "hosts").read_text() == OTHERS.replace("::7", "::8") + \
        "198.51.100.4 home.lan home\n"


def test_missing_file_is_created_and_mode_is_kept(tmp_path):
    hosts = provider(tmp_path)
    hosts.update(Record("hostsfile", "home.lan home", "A"), "198.51.100.4")
    assert (tmp_path / "hosts").read_text() == "198.51.100.4 home.lan home\n"
    (tmp_path / "hosts").chmod(0o640)
    hosts.update(Record("hostsfile", "home.lan home", "A"), "198.51.100.5")
    assert (tmp_path / "hosts").stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["hosts"], "no temporary files left"


@pytest.mark.parametrize("text", ["", "#comment", "bad/name"])
def test_names_are_validated(text):
    with pytest.raises(ValueError):
        to_names(text)
