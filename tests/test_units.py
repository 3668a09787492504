"""The unit files and their packaging: what systemd-analyze does not catch."""
from __future__ import annotations

import configparser
from pathlib import Path

from helpers import REPO

SYSTEMD = REPO / "systemd"
DEBIAN = REPO / "packaging" / "debian"


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment, method-assign]
    parser.read_string(path.read_text())
    return parser


def test_timers_set_persistent_only_with_a_calendar():
    for path in SYSTEMD.glob("*.timer"):
        timer = unit(path)["Timer"]
        if "Persistent" in timer:
            assert "OnCalendar" in timer, f"{path.name}: Persistent= needs OnCalendar="
        assert "OnBootSec" in timer or "OnCalendar" in timer, f"{path.name}: no first run"


def test_every_unit_is_packaged_from_systemd_by_a_link():
    units = {path.name for path in SYSTEMD.iterdir() if path.is_file()
             and path.suffix in (".service", ".socket", ".timer")}
    packaged = {}
    for link in DEBIAN.iterdir():
        if link.suffix in (".service", ".socket", ".timer"):
            assert link.is_symlink(), f"{link.name} is a copy, not a link into systemd/"
            target = link.resolve()
            assert target.parent == SYSTEMD and target.is_file(), link.name
            packaged[target.name] = link.name
    assert set(packaged) == units


def test_one_system_user_definition():
    definitions = sorted(DEBIAN.glob("*.sysusers"))
    assert [path.name for path in definitions] == ["python3-chipmunk.sysusers"]
    lines = [line for line in definitions[0].read_text().splitlines()
             if line and not line.startswith("#")]
    assert lines == ['u chipmunk - "Chipmunk dynamic DNS" -']
    control = (DEBIAN / "control").read_text()
    assert "dh-sequence-installsysusers" in control
    assert "dh_installsysusers" not in (DEBIAN / "rules").read_text()


def test_no_install_file_hard_codes_the_unit_directory():
    for path in DEBIAN.glob("*.install"):
        assert "systemd/system" not in path.read_text(), path.name
