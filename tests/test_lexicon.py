"""dns-lexicon's powerdns provider against a real PowerDNS, checked over DNS.

The client runs as a real process against a real chipmunk server; PowerDNS
(Debian pdns-server, sqlite3 backend) serves the zone and the HTTP API that
lexicon speaks.  Every record is verified by a DNS query to PowerDNS.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chipmunk.providers.contract import make_provider
from helpers import child_env, make_refresh_due, run_client, write_provider_config
from pdns import ZONE, PowerDNS

HERE = Path(__file__).parent


def write_client(tmp_path, chipmunk_server, pdns_url: str, api_key: str,
                 zone: str = ZONE, extra: str = "", ttl: str = "60") -> Path:
    key_file = tmp_path / "pdns-key"
    key_file.write_text(api_key + "\n")
    section = (f"[powerdns]\nzone = {zone}\nhost = home, @\nttl = {ttl}\n"
               "record_types = A, AAAA\n"
               f"auth_token_file = {key_file}\npdns_server = {pdns_url}\n"
               f"pdns_server_id = localhost\npdns_disable_notify = yes\n{extra}")
    config = write_provider_config(tmp_path, chipmunk_server, "powerdns", section)
    text = config.read_text().replace("timeout = 5", "timeout = 2")
    config.write_text(text)
    return config


def serial(pdns: PowerDNS) -> int:
    return int(pdns.query(ZONE, "SOA")[0].split()[2])


def test_created_updated_and_left_alone_when_equal(tmp_path, chipmunk_server, pdns):
    config = write_client(tmp_path, chipmunk_server, pdns.url, pdns.api_key)
    created = run_client(config, "once")
    assert created.returncode == 0, created.stderr
    assert pdns.answer(f"home.{ZONE}", "A") == (["127.0.0.1"], 60)
    assert pdns.answer(f"home.{ZONE}", "AAAA") == (["::1"], 60)
    assert pdns.answer(ZONE, "A") == (["127.0.0.1"], 60)
    assert f"powerdns home.{ZONE} A created: (missing) -> 127.0.0.1" in created.stderr

    before = serial(pdns)
    make_refresh_due(tmp_path)
    unchanged = run_client(config, "once")
    assert unchanged.returncode == 0, unchanged.stderr
    assert f"powerdns home.{ZONE} AAAA already points to ::1" in unchanged.stderr
    assert serial(pdns) == before, "an equal record costs no write"

    # edited elsewhere: two addresses with another ttl; ours replaces the whole set
    pdns.set(f"home.{ZONE}", "A", 3600, "203.0.113.5", "203.0.113.6")
    make_refresh_due(tmp_path)
    repaired = run_client(config, "once")
    assert repaired.returncode == 0, repaired.stderr
    assert "A updated: 203.0.113.5 203.0.113.6 -> 127.0.0.1" in repaired.stderr
    assert pdns.answer(f"home.{ZONE}", "A") == (["127.0.0.1"], 60), \
        "one address, and the configured ttl"

    pdns.set(f"home.{ZONE}", "A", 60, "203.0.113.9")  # one record, our ttl: an update
    make_refresh_due(tmp_path)
    assert run_client(config, "once").returncode == 0
    assert pdns.answer(f"home.{ZONE}", "A") == (["127.0.0.1"], 60)


def test_a_wrong_api_key_is_77(tmp_path, chipmunk_server, pdns):
    config = write_client(tmp_path, chipmunk_server, pdns.url, "not-the-key")
    result = run_client(config, "once")
    assert result.returncode == 77, result.stderr
    assert "HTTP 401" in result.stderr and "needs attention" in result.stderr
    assert pdns.query(f"home.{ZONE}", "A") == []


def test_a_zone_the_service_does_not_have_is_78_naming_it(tmp_path, chipmunk_server, pdns):
    config = write_client(tmp_path, chipmunk_server, pdns.url, pdns.api_key,
                          zone="nowhere.test")
    result = run_client(config, "once")
    assert result.returncode == 78, result.stderr
    assert "the service has no zone 'nowhere.test' ([powerdns] zone)" in result.stderr


def test_powerdns_stopped_is_75(tmp_path, chipmunk_server, pdns):
    config = write_client(tmp_path, chipmunk_server, pdns.url, pdns.api_key)
    pdns.stop()
    result = run_client(config, "once")
    assert result.returncode == 75, result.stderr
    assert "cannot reach the service" in result.stderr


def test_no_answer_is_bounded_by_the_timeout(tmp_path, chipmunk_server):
    """lexicon's own requests have no timeout: ours applies (timeout = 2)."""
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        config = write_client(tmp_path, chipmunk_server, url, "key")
        started = time.monotonic()
        result = run_client(config, "once")
        took = time.monotonic() - started
    assert result.returncode == 75, result.stderr
    assert "no answer within 2s" in result.stderr
    assert took < 20, f"the client waited {took:.1f}s"


AUDITED = """
import json, runpy, sys
seen = []
def hook(event, args):
    if event == "socket.connect":
        address = args[1]
        seen.append(["connect", *address[:2]] if isinstance(address, tuple)
                    else ["connect", str(address)])
    elif event == "socket.getaddrinfo":
        seen.append(["getaddrinfo", str(args[0]), args[1]])
    elif event == "urllib.Request":
        seen.append(["urllib", args[0]])
sys.addaudithook(hook)
log, target, sys.argv = sys.argv[1], sys.argv[2], [sys.argv[2], *sys.argv[3:]]
try:
    if target.endswith(".py"):
        runpy.run_path(target, run_name="__main__")
    else:
        runpy.run_module(target, run_name="__main__", alter_sys=True)
finally:
    with open(log, "w") as out:
        json.dump(seen, out)
"""


def run_audited(tmp_path: Path, *argv: str) -> tuple[subprocess.CompletedProcess, list]:
    """A program run with an audit hook that records every connect and lookup;
    XDG_CACHE_HOME and HOME are empty, so tldextract has no cached list."""
    (tmp_path / "audited.py").write_text(AUDITED)
    (tmp_path / "home").mkdir(exist_ok=True)
    log = tmp_path / "audit.json"
    result = subprocess.run(
        [sys.executable, str(tmp_path / "audited.py"), str(log), *argv],
        env=child_env(HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "home")),
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    return result, json.loads(log.read_text())


def test_only_the_chipmunk_server_and_the_provider_are_contacted(
        tmp_path, chipmunk_server, pdns):
    config = write_client(tmp_path, chipmunk_server, pdns.url, pdns.api_key)
    result, seen = run_audited(tmp_path, "chipmunk.client.cli", "--config", str(config),
                               "once")
    assert result.returncode == 0, result.stderr
    server_port = int(chipmunk_server.endpoint.rsplit(":", 1)[1])
    server6_port = int(chipmunk_server.endpoint6.rsplit(":", 1)[1])
    allowed = {("127.0.0.1", server_port), ("::1", server6_port),
               ("127.0.0.1", pdns.api_port)}
    connects = {(entry[1], entry[2]) for entry in seen if entry[0] == "connect"}
    lookups = {entry[1] for entry in seen if entry[0] == "getaddrinfo"}
    assert connects and connects <= allowed, seen
    assert lookups <= {"127.0.0.1", "::1"}, seen


TLDEXTRACT_USERS = ["namecheap"]  # lexicon providers that call tldextract themselves


@pytest.mark.parametrize("name", TLDEXTRACT_USERS)
def test_tldextract_never_downloads_the_suffix_list(tmp_path, name):
    """Loaded through Chipmunk, a provider that runs tldextract gets its answer
    from local lists or the bundled snapshot: no connection, no lookup."""
    script = tmp_path / "extract.py"
    script.write_text(
        "from chipmunk.providers import provider_class\n"
        f"provider_class({name!r})\n"
        "import tldextract\n"
        "print(tldextract.extract('home.example.co.uk').suffix)\n")
    result, seen = run_audited(tmp_path, str(script))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "co.uk"
    assert not [entry for entry in seen if entry[0] in ("connect", "getaddrinfo")], seen


def test_check_names_unknown_keys_and_the_keys_it_takes(tmp_path, chipmunk_server):
    config = write_client(tmp_path, chipmunk_server, "http://127.0.0.1:9", "key",
                          extra="pdns_sever = typo\n")
    result = run_client(config, "check")
    assert result.returncode == 78
    assert "[powerdns] pdns_sever = 'typo': unknown key (known: auth_token, " \
        "auth_token_file, create, host, pdns_disable_notify, pdns_server, " \
        "pdns_server_id, record_types, ttl, zone)" in result.stderr


def test_check_masks_lexicon_secrets(tmp_path, chipmunk_server):
    config = write_client(tmp_path, chipmunk_server, "http://127.0.0.1:9", "sekrit-key")
    result = run_client(config, "check")
    assert result.returncode == 0, result.stderr
    assert "auth_token = ********" in result.stdout
    assert "sekrit-key" not in result.stdout
    assert "pdns_server = http://127.0.0.1:9" in result.stdout


def test_providers_lists_builtin_and_lexicon_with_keys():
    result = subprocess.run([sys.executable, "-m", "chipmunk.client.cli", "providers"],
                            env=child_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split(None, 2)[1:] for line in result.stdout.splitlines()
            if not line.startswith("#")}
    assert rows["rfc2136"][0] == "built-in" and rows["command"][0] == "built-in"
    assert rows["linode"][0] == "built-in", "ours wins over lexicon's of the same name"
    assert rows["powerdns"] == ["lexicon", "zone, host, ttl, create, auth_token, pdns_server, "
                                "pdns_server_id, pdns_disable_notify, record_types"]
    lexicon = [name for name, row in rows.items() if row[0] == "lexicon"]
    assert len(lexicon) >= 70 and "cannot be loaded" not in result.stdout
    assert f"# 6 built in, 0 from plugins, {len(lexicon)} through dns-lexicon" in result.stdout


# Python's own way to make a package unimportable (the import system then
# answers as if it were not installed)
HIDE_LEXICON = "import sys\nsys.modules['lexicon'] = None\n"


def test_without_lexicon_its_names_say_how_to_get_it(tmp_path, chipmunk_server):
    """As on a machine without python3-lexicon."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(HIDE_LEXICON)
    config = write_client(tmp_path, chipmunk_server, "http://127.0.0.1:9", "key")
    result = run_client(config, "check", PYTHONPATH=f"{tmp_path / 'site'}:{HERE.parent}")
    assert result.returncode == 78
    assert "[dDNS] provider = 'powerdns': unknown provider 'powerdns'" in result.stderr
    assert "dns-lexicon is not installed" in result.stderr
    assert "apt install python3-lexicon" in result.stderr


def test_options_reach_lexicon_under_the_spelling_it_reads():
    """lexicon's powerdns reads pdns-disable-notify with dashes, the rest with
    underscores; the ttl is the configured one."""
    provider = make_provider("powerdns", "zone = example.test\nttl = 45\nauth_token = k\n"
                             "pdns_server = http://127.0.0.1:9/\npdns_server_id = other\n"
                             "pdns_disable_notify = yes\n")
    lexicon = provider.lexicon
    assert lexicon.disable_slave_notify == "yes"
    assert lexicon.api_endpoint == "http://127.0.0.1:9/api/v1/servers/other"
    assert lexicon.api_key == "k" and lexicon.domain == "example.test"
    assert lexicon._get_lexicon_option("ttl") == 45
