"""The typed config layer, as chipmunk-server uses it."""
from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from pathlib import Path

import pytest

from chipmunk.config import ConfigError
from chipmunk.server import settings as server_settings
from chipmunk.server.passwords import hash_password
from chipmunk.server.settings import ListenAddress, load_settings

REPO = Path(__file__).resolve().parent.parent

#: The original project's chipmunkapi.ini format, written here from its README.
ORIGINAL_FORMAT = """\
[Paths]

# Directory where client data will be persisted.
client_update_dir = /tmp/remotes

[Users]
# usernames and passwords for authenticating to the service
user1 = password1
Test = password
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "server.ini"
    path.write_text(text)
    return path


def test_original_format_loads_unchanged_with_case_kept(tmp_path):
    settings = load_settings(write(tmp_path, ORIGINAL_FORMAT))
    assert settings.state_dir == Path("/tmp/remotes")
    assert sorted(settings.users) == ["Test", "user1"]
    assert settings.users["user1"].plain == b"password1"
    assert settings.listen == (ListenAddress("127.0.0.1", 8080),)
    assert len(settings.warnings) == 1 and "plain-text password" in settings.warnings[0]


def test_defaults_and_state_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    settings = load_settings(write(tmp_path, "[Users]\n"))
    assert settings.state_dir == Path("/var/lib/chipmunk")
    usable_cpus = len(os.sched_getaffinity(0))
    assert (settings.threads, settings.workers, settings.backlog) == (4, usable_cpus, 1024)
    assert settings.realm == "chipmunk" and settings.trusted_proxies == ()
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/chipmunk-test:/other")
    assert load_settings(write(tmp_path, "")).state_dir == Path("/var/lib/chipmunk-test")


def test_workers_auto_follows_the_cpus_this_process_may_use(tmp_path):
    allowed = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(allowed)})
        assert load_settings(write(tmp_path, "[Server]\nworkers = auto\n")).workers == 1
    finally:
        os.sched_setaffinity(0, allowed)
    assert load_settings(write(tmp_path, "[Server]\nworkers = 3\n")).workers == 3


def test_every_server_key(tmp_path):
    key_file = tmp_path / "k.pem"
    settings = load_settings(write(tmp_path, f"""\
[Server]
listen = 0.0.0.0:80, [::]:80
workers = 2
threads = 8
backlog = 256
connection_timeout = 5
max_header_size = 8192
max_body_size = 0
tls_certificate = {key_file}
tls_private_key = {key_file}
trusted_proxies = 10.0.0.0/8 2001:db8::/32, 192.0.2.1
realm = home
auth_failure_limit = 5
auth_failure_window = 30
auth_lockout = 60
[Users]
bob = {hash_password("x", log_n=4)}
"""))
    assert settings.listen == (ListenAddress("0.0.0.0", 80), ListenAddress("::", 80))
    assert settings.trusted_proxies[1] == ipaddress.ip_network("2001:db8::/32")
    assert settings.tls and settings.users["bob"].hashed is not None
    assert settings.warnings == ()


@pytest.mark.parametrize("text, words", [
    ("[Server]\nthreads = lots\n", "[Server] threads = 'lots': expected a whole number"),
    ("[Server]\nthreads = 0\n", "[Server] threads = '0': expected a number from 1 to 256"),
    ("[Server]\nlisten = localhost:80\n", "[Server] listen = 'localhost:80'"),
    ("[Server]\nlisten = ::1:80\n", "[Server] listen = '::1:80'"),
    ("[Server]\nlisten = 127.0.0.1:99999\n", "port must be 0..65535"),
    ("[Server]\ntrusted_proxies = 10.0.0.0/33\n", "[Server] trusted_proxies = '10.0.0.0/33'"),
    ("[Server]\nrealm = a\"b\n", "[Server] realm"),
    ("[Server]\ntls_certificate = /x.pem\n", "set both tls_certificate and tls_private_key"),
    ("[Server]\nlisen = 127.0.0.1:80\n", "[Server] lisen = '127.0.0.1:80': unknown key"),
    ("[Serevr]\n", "[Serevr]: unknown section"),
    ("[Server]\nthreads = 1\nthreads = 2\n", "[Server] threads: key given twice"),
    ("threads = 1\n", "a key before any [section] header"),
    ("[Server]\nthis line has no equals sign\n", "cannot parse line 2"),
    ("[Users]\n../etc = x\n", "[Users] ../etc: usernames become file names"),
    ("[Users]\n.hidden = x\n", "[Users] .hidden: usernames become file names"),
    ("[Users]\n" + "a" * 65 + " = x\n", "usernames become file names"),
    ("[Users]\nbad name = x\n", "[Users] bad name"),
    ("[Users]\nnobody =\n", "[Users] nobody: empty password"),
    ("[Users]\nbob = $scrypt$ln=99,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\n",
     "[Users] bob: malformed scrypt hash"),
    ("[Users]\nbob = $scrypt$nonsense\n", "[Users] bob: malformed password hash"),
])
def test_errors_name_file_section_key_and_value(tmp_path, text, words):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert message.startswith(str(path)), message
    assert words in message


def test_missing_file_names_it(tmp_path):
    with pytest.raises(ConfigError, match=re.escape(f"{tmp_path}/nope.ini: file not found")):
        load_settings(tmp_path / "nope.ini")


def test_percent_and_dollar_in_passwords_are_literal(tmp_path):
    settings = load_settings(write(tmp_path, "[Users]\nalice = 100%$HOME%(x)s: #;\n"))
    assert settings.users["alice"].plain == b"100%$HOME%(x)s: #;"


SAMPLE = REPO / "chipmunk" / "samples" / "server.ini"


def test_shipped_sample_is_the_rendered_schema():
    assert SAMPLE.read_text() == server_settings.render_sample(), \
        "regenerate with: chipmunk-server sample-config > chipmunk/samples/server.ini"


def test_sample_shows_every_key_with_its_default(tmp_path, monkeypatch):
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    uncommented = re.sub(r"(?m)^#(\w+ =)", r"\1", SAMPLE.read_text())
    shown = load_settings(write(tmp_path, uncommented))
    defaults = load_settings(write(tmp_path, ""))
    assert shown == defaults
    keys = set(re.findall(r"(?m)^#(\w+) =", SAMPLE.read_text()))
    declared = {option.key for option in server_settings.SCHEMA.options}
    assert keys == declared


def test_settings_class_matches_the_schema():
    """A key added, renamed or removed in one but not the other fails here."""
    fields = {field.name for field in dataclasses.fields(server_settings.ServerSettings)}
    assert fields == set(server_settings.SCHEMA.fields()) | set(server_settings.DERIVED_FIELDS)


def test_users_is_the_last_section_of_the_shipped_config(tmp_path):
    """Admins append "name = hash" to /etc/chipmunk/server.ini (the e2e does)."""
    text = SAMPLE.read_text()
    assert re.findall(r"(?m)^\[(\w+)\]", text)[-1] == "Users"
    appended = tmp_path / "server.ini"
    appended.write_text(text + "carol = a password\n")
    assert "carol" in load_settings(appended).users


def test_the_readme_table_lists_every_server_key():
    readme = (REPO / "README.md").read_text()
    table = readme.split("Every other key is optional and lives in `[Server]`:", 1)[1]
    rows = re.findall(r"(?m)^\| ((?:`\w+`(?:, )?)+) \|", table.split("\n\n", 2)[1])
    listed = {key for row in rows for key in re.findall(r"`(\w+)`", row)}
    keys = {option.key for option in server_settings.SCHEMA.sections["Server"].options}
    assert listed == keys
