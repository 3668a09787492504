"""Provider plugins from other packages: loaded only when named, named when broken.

Each plugin here is a real installed distribution (a module and a
``.dist-info`` with its entry point) on the child's PYTHONPATH, found by the
client through importlib.metadata as pip-installed ones are.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chipmunk.providers import DNSProvider
from helpers import REPO, child_env, run_client, write_provider_config

WORKING = '''
from chipmunk.config import Option
from chipmunk.converters import to_path
from chipmunk.providers import Current, DNSProvider

class NoteProvider(DNSProvider):
    """Keeps each record's address in a file of its own."""
    name = "note"
    options = (Option("directory", to_path, None, help="Where the notes go."),)

    def read(self, record):
        path = self.values["directory"] / record.name
        return Current(path.read_text() if path.exists() else None)

    def write(self, record, address, current):
        (self.values["directory"] / record.name).write_text(address)
'''

SLOW_AND_BROKEN = '''
raise RuntimeError("this plugin is broken")
'''

WITHOUT_WRITE = '''
from chipmunk.providers import Current, DNSProvider

class HalfProvider(DNSProvider):
    name = "half"
    def read(self, record):
        return Current(None)
'''


def install(site: Path, distribution: str, module: str, source: str, entry: str) -> None:
    (site / f"{module}.py").write_text(source)
    info = site / f"{distribution}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\n"
                                   "Version: 1.0\n")
    (info / "entry_points.txt").write_text(f"[chipmunk.providers]\n{entry}\n")


@pytest.fixture
def site(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    install(site, "chipmunk_note", "chipmunk_note", WORKING,
            "note = chipmunk_note:NoteProvider")
    install(site, "chipmunk_broken", "chipmunk_broken", SLOW_AND_BROKEN,
            "broken = chipmunk_broken:Provider")
    install(site, "chipmunk_half", "chipmunk_half", WITHOUT_WRITE,
            "half = chipmunk_half:HalfProvider")
    return site


def run(config: Path, site: Path, *args: str):
    return run_client(config, *args, PYTHONPATH=f"{REPO}:{site}")


def test_a_plugin_provider_updates_and_the_broken_one_is_never_imported(
        tmp_path, chipmunk_server, site):
    notes = tmp_path / "notes"
    notes.mkdir()
    config = write_provider_config(tmp_path, chipmunk_server, "note",
                                   f"[note]\ndirectory = {notes}\nhost = home.example.org\n")
    result = run(config, site, "once")
    assert result.returncode == 0, result.stderr
    assert (notes / "home.example.org").read_text() == "127.0.0.1"
    assert "note home.example.org A created: (missing) -> 127.0.0.1" in result.stderr


def test_a_plugin_that_fails_to_load_is_named(tmp_path, chipmunk_server, site):
    config = write_provider_config(tmp_path, chipmunk_server, "broken", "")
    result = run(config, site, "check")
    assert result.returncode == 78, result.stderr
    assert "[dDNS] provider: provider 'broken' (chipmunk_broken:Provider) cannot be " \
        "loaded: RuntimeError: this plugin is broken" in result.stderr


def test_a_plugin_without_a_hook_fails_at_load_not_at_its_first_update(
        tmp_path, chipmunk_server, site):
    config = write_provider_config(tmp_path, chipmunk_server, "half", "")
    result = run(config, site, "check")
    assert result.returncode == 78, result.stderr
    assert "provider 'half' (chipmunk_half:HalfProvider) breaks the provider contract: " \
        "write() is not implemented" in result.stderr


def test_providers_lists_plugins_and_says_which_cannot_load(site):
    result = subprocess.run([sys.executable, "-m", "chipmunk.client.cli", "providers"],
                            env=child_env(PYTHONPATH=f"{REPO}:{site}"), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert lines["note"].split()[1:] == ["plugin", "host,", "directory,", "record_types"]
    assert "cannot be loaded: this plugin is broken" in lines["broken"]
    assert "# 6 built in, 3 from plugins" in result.stdout


def test_overriding_update_fails_when_the_class_is_made():
    with pytest.raises(TypeError, match="overrides DNSProvider.update"):
        type("Sneaky", (DNSProvider,), {"name": "sneaky", "update": lambda self: None})
