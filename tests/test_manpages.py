"""The man pages come from --help and the schemas, so they cannot drift."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from chipmunk.client import settings as client_settings
from chipmunk.server import settings as server_settings
from tools import manpages


def test_config_pages_list_every_key():
    pages = manpages.pages()
    for page, schema in (("chipmunk-server.ini.5", server_settings.SCHEMA),
                         ("chipmunk-client.ini.5", client_settings.build_schema())):
        text = pages[page]
        for option in schema.options:
            assert f"\\fB{manpages.escape(option.key)}\\fR" in text, (page, option.key)
            if option.secret:
                assert f"{manpages.escape(option.key)}_file" in text


def test_program_pages_carry_the_help_text():
    pages = manpages.pages()
    assert manpages.escape("hash-password  read a password") in pages["chipmunk-server.8"]
    assert manpages.escape("75 temporary failure") in pages["chipmunk-client.8"]


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff renders the check")
def test_pages_render_without_warnings(tmp_path):
    assert manpages.main([str(tmp_path)]) == 0
    for page in sorted(tmp_path.iterdir()):
        rendered = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(page)],
                                  capture_output=True, text=True, timeout=30)
        assert rendered.returncode == 0 and rendered.stderr == "", (page.name,
                                                                   rendered.stderr)
