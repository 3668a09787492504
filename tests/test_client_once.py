"""``chipmunk-client once`` against a real chipmunk-server and a fake Linode API."""
from __future__ import annotations

import json

import pytest

from fake_linode import Canned, FakeLinode
from helpers import client_config, run_client
from localhttp import LocalHTTPServer, QuietHandler

LINODE_SECTION = "[linode]\napi_key = {token}\nhost = home\ndomain = example.org\n" \
                 "endpoint = {endpoint}\n{extra}"



@pytest.fixture
def linode():
    with FakeLinode() as fake:
        fake.domain_id = fake.add_domain("example.org")
        fake.add_record(fake.domain_id, "www", "A", "192.0.2.80")
        fake.add_record(fake.domain_id, "home", "A", "192.0.2.1")
        yield fake


@pytest.fixture
def write_config(tmp_path, chipmunk_server, linode):
    state = tmp_path / "client-state"

    def write(token: str = "good-token", linode_extra: str = "", **kwargs) -> object:
        section = LINODE_SECTION.format(token=token, endpoint=linode.endpoint,
                                        extra=linode_extra)
        config = tmp_path / "client.ini"
        config.write_text(client_config(chipmunk_server.endpoint, state, "linode", section,
                                        **kwargs))
        config.chmod(0o600)
        return config

    write.state = state
    write.endpoint = chipmunk_server.endpoint
    return write


def state_of(write_config) -> dict:
    return json.loads((write_config.state / "state.json").read_text())


def home(linode) -> dict:
    return linode.find(linode.domain_id, "home", "A")


def test_updates_then_does_nothing_while_nothing_changes(write_config, linode):
    config = write_config()
    first = run_client(config, "once")
    assert first.returncode == 0, first.stderr
    assert home(linode)["target"] == "127.0.0.1"
    assert [(m, p) for m, p, _ in linode.writes()] == [
        ("PUT", f"/v4/domains/{linode.domain_id}/records/{home(linode)['id']}")]
    assert "public address is now 127.0.0.1" in first.stderr
    assert "linode home.example.org A updated: 192.0.2.1 -> 127.0.0.1" in first.stderr
    record = state_of(write_config)["records"]["linode home.example.org A"]
    assert (record["result"], record["address"]) == ("updated", "127.0.0.1")

    seen = len(linode.requests)
    again = run_client(config, "once")
    assert again.returncode == 0, again.stderr
    assert len(linode.requests) == seen, "no provider call when nothing changed"
    assert again.stderr == ""


def test_address_change_updates_and_logs_old_and_new(write_config, linode):
    config = write_config()
    assert run_client(config, "once").returncode == 0
    state = state_of(write_config)
    state["addresses"]["A"] = "198.51.100.9"
    state["records"]["linode home.example.org A"]["address"] = "198.51.100.9"
    (write_config.state / "state.json").write_text(json.dumps(state))
    home(linode)["target"] = "198.51.100.9"
    result = run_client(config, "once")
    assert result.returncode == 0
    assert "public address is now 127.0.0.1 (was 198.51.100.9)" in result.stderr
    assert "[event=address-changed" in result.stderr and "old_ip=198.51.100.9" in result.stderr
    assert home(linode)["target"] == "127.0.0.1"


def test_refresh_due_repairs_a_record_edited_elsewhere(write_config, linode):
    config = write_config()
    assert run_client(config, "once").returncode == 0
    home(linode)["target"] = "203.0.113.66"  # someone edited it in Cloud Manager
    assert run_client(config, "once").returncode == 0
    assert home(linode)["target"] == "203.0.113.66", "not due: not looked at"
    state = state_of(write_config)
    state["records"]["linode home.example.org A"]["updated_at"] -= 8 * 86400
    (write_config.state / "state.json").write_text(json.dumps(state))
    assert run_client(config, "once").returncode == 0
    assert home(linode)["target"] == "127.0.0.1"


def test_unchanged_record_costs_no_write(write_config, linode):
    home(linode)["target"] = "127.0.0.1"
    result = run_client(write_config(), "once")
    assert result.returncode == 0
    assert linode.writes() == []
    assert "already points to 127.0.0.1" in result.stderr
    assert "[event=dns-unchanged" in result.stderr


def test_dry_run_changes_nothing(write_config, linode):
    result = run_client(write_config(), "once", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "would change 192.0.2.1 to 127.0.0.1 (dry run)" in result.stderr
    assert linode.writes() == []
    assert not (write_config.state / "state.json").exists()


def test_force_writes_even_when_nothing_changed(write_config, linode):
    config = write_config()
    assert run_client(config, "once").returncode == 0
    assert len(linode.writes()) == 1
    assert run_client(config, "once", "--force").returncode == 0
    assert len(linode.writes()) == 2


def test_creates_a_missing_record_only_when_allowed(write_config, linode):
    linode.records[linode.domain_id].remove(home(linode))
    refused = run_client(write_config(), "once")
    assert refused.returncode == 78
    assert "home.example.org has no A record; create it, or set [linode] create = yes" \
        in refused.stderr
    created = run_client(write_config(linode_extra="create = yes\nttl = 300\n"), "once")
    assert created.returncode == 0, created.stderr
    assert home(linode)["target"] == "127.0.0.1" and home(linode)["ttl_sec"] == 300
    assert linode.writes()[-1][0] == "POST"


def test_follows_pagination_and_x_filter(write_config, linode):
    linode.max_page_size = 2
    for number in range(5):
        linode.add_domain(f"other{number}.example")
        linode.add_record(linode.domain_id, f"filler{number}", "A", "192.0.2.200")
    linode.records[linode.domain_id].append(linode.records[linode.domain_id].pop(1))
    assert run_client(write_config(), "once").returncode == 0
    assert home(linode)["target"] == "127.0.0.1"
    domain_filters = [json.loads(x_filter) for (_, path, _), x_filter
                      in zip(linode.requests, linode.filters, strict=True)
                      if path.startswith("/v4/domains?")]
    assert domain_filters == [{"domain": "example.org"}], "one filtered domain lookup"
    record_pages = {path for _, path, _ in linode.requests if "/records?" in path}
    assert len(record_pages) == 4, "all four pages of records read"


def test_bad_token_needs_attention_until_the_config_changes(write_config, linode):
    config = write_config(token="v3-style-key")
    first = run_client(config, "once")
    assert first.returncode == 77
    assert "Linode: credentials refused (401): Invalid Token" in first.stderr
    assert "personal access token" in first.stderr
    assert "needs attention" in first.stderr
    assert "v3-style-key" not in first.stderr, "secrets never logged"
    seen = len(linode.requests)
    second = run_client(config, "once")
    assert second.returncode == 77, "still needs a person"
    assert len(linode.requests) == seen, "not retried while the config is the same"
    fixed = run_client(write_config(token="good-token"), "once")
    assert fixed.returncode == 0, fixed.stderr
    assert home(linode)["target"] == "127.0.0.1"


def test_unknown_domain_is_a_config_error(write_config, linode):
    config = write_config()
    config.write_text(config.read_text().replace("domain = example.org",
                                                 "domain = example.net"))
    result = run_client(config, "once")
    assert result.returncode == 78
    assert "no domain 'example.net' on this account ([linode] domain)" in result.stderr


@pytest.mark.parametrize("canned, words", [
    (Canned(429, '{"errors": [{"reason": "Too many requests"}]}', {"Retry-After": "120"}),
     "rate limited (429), retry after 120s: Too many requests"),
    (Canned(503, '{"errors": [{"reason": "Service Unavailable"}]}'),
     "answered 503: Service Unavailable"),
    (Canned(200, "<html>maintenance</html>"), "the answer is not JSON"),
    (Canned(200, '{"data": "nonsense"}'), "unexpected answer"),
])
def test_temporary_provider_failures_exit_75_and_are_retried(write_config, linode,
                                                             canned, words):
    linode.canned.append(canned)
    config = write_config()
    result = run_client(config, "once")
    assert result.returncode == 75, result.stderr
    assert words in result.stderr
    assert "[event=update-failed" in result.stderr
    record = state_of(write_config)["records"]["linode home.example.org A"]
    assert record["result"] == "failed" and record["address"] is None
    if canned.status == 429:
        assert record["retry_not_before"] - record["attempted_at"] == 120
        return  # honoured: the next run waits
    retried = run_client(config, "once")
    assert retried.returncode == 0, retried.stderr
    assert home(linode)["target"] == "127.0.0.1"


def test_wrong_server_password_exits_77(write_config, linode):
    result = run_client(write_config(password="wrong"), "once")
    assert result.returncode == 77
    assert "credentials refused (401)" in result.stderr
    assert "check [ChipmunkAPIServer] username and password" in result.stderr
    assert linode.requests == []


def test_server_down_exits_75(tmp_path, linode):
    config = tmp_path / "client.ini"
    config.write_text(client_config("127.0.0.1:9", tmp_path / "state"))
    result = run_client(config, "once")
    assert result.returncode == 75
    assert "cannot reach 127.0.0.1:9" in result.stderr
    assert "Connection refused" in result.stderr


def garbage_server(body: bytes) -> LocalHTTPServer:
    """An HTTP server answering every GET with a fixed page (a captive portal)."""
    class Handler(QuietHandler):
        def do_GET(self) -> None:
            self.answer(200, body, "text/html")

    return LocalHTTPServer(Handler)


@pytest.mark.parametrize("body", [b"<html>Please log in to the hotel wifi</html>", b"",
                                  b'{"Client_IP": "not an address"}', b'["1.2.3.4"]'])
def test_garbage_answers_never_reach_a_provider(tmp_path, linode, body):
    garbage = garbage_server(body)
    try:
        section = LINODE_SECTION.format(token="good-token", endpoint=linode.endpoint,
                                        extra="")
        config = tmp_path / "client.ini"
        config.write_text(client_config(garbage.url, tmp_path / "state", "linode",
                                        section))
        result = run_client(config, "once")
    finally:
        garbage.close()
    assert result.returncode == 75
    assert "did not answer with an address" in result.stderr
    assert linode.requests == []


def test_method_set_has_the_server_save_the_address(write_config, chipmunk_server, linode):
    result = run_client(write_config(method="set"), "once")
    assert result.returncode == 0, result.stderr
    assert (chipmunk_server.state / "alice.cm").read_text() == "127.0.0.1\n"


def test_corrupt_state_is_moved_aside(write_config, linode):
    write_config.state.mkdir(parents=True)
    (write_config.state / "state.json").write_text("{not json")
    result = run_client(write_config(), "once")
    assert result.returncode == 0, result.stderr
    assert "state file" in result.stderr and "unreadable" in result.stderr
    aside = list(write_config.state.glob("state.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text() == "{not json"
    assert state_of(write_config)["addresses"] == {"A": "127.0.0.1"}


def test_status_shows_address_records_and_next_refresh(write_config, linode):
    config = write_config()
    run_client(config, "once")
    linode.canned.append(Canned(503, '{"errors": [{"reason": "Down for a bit"}]}'))
    run_client(config, "once", "--force")
    result = run_client(config, "status")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("IPv4:         127.0.0.1 (since ")
    assert "linode home.example.org A: failed, 127.0.0.1, updated " in result.stdout
    assert "last error" in result.stdout and "Down for a bit" in result.stdout
    assert "next forced refresh: " in result.stdout


def test_check_prints_effective_settings_with_secrets_masked(write_config):
    config = write_config(token="s3cr3t-token")
    result = run_client(config, "check")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        f"# {config}: OK: IPv4 from the chipmunk server {write_config.endpoint}; IPv6 from "
        f"the chipmunk server {write_config.endpoint}; providers: linode")
    assert "api_key = ********" in result.stdout
    assert "password = ********" in result.stdout
    assert "s3cr3t-token" not in result.stdout + result.stderr
    assert "wonderland" not in result.stdout + result.stderr
    assert "zone = example.org" in result.stdout


def test_mixed_providers_fail_and_succeed_per_record(tmp_path, chipmunk_server, linode):
    linode.canned.append(Canned(503, '{"errors": [{"reason": "Service Unavailable"}]}'))
    section = (LINODE_SECTION.format(token="good-token", endpoint=linode.endpoint,
                                     extra="")
               + f"[hostsfile]\npath = {tmp_path / 'hosts'}\nnames = home.lan\n")
    config = tmp_path / "client.ini"
    config.write_text(client_config(chipmunk_server.endpoint, tmp_path / "state",
                                    "linode, hostsfile", section))
    result = run_client(config, "once")
    assert result.returncode == 75
    assert (tmp_path / "hosts").read_text() == "127.0.0.1 home.lan\n", "the rest continue"
    records = json.loads((tmp_path / "state" / "state.json").read_text())["records"]
    assert records["linode home.example.org A"]["result"] == "failed"
    assert records["hostsfile home.lan A"]["result"] == "updated"
