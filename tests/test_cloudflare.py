"""The cloudflare provider against a local fake of Cloudflare's API v4."""
from __future__ import annotations

import pytest

from fake_cloudflare import FakeCloudflare
from fake_linode import Canned
from helpers import run_client, write_provider_config


@pytest.fixture
def cloudflare():
    with FakeCloudflare() as fake:
        fake.zone_id = fake.add_zone("example.org")
        fake.add_record(fake.zone_id, "home.example.org", "A", "192.0.2.1", ttl=120,
                        proxied=True)
        yield fake


def write(tmp_path, chipmunk_server, cloudflare, token="cf-token", extra="",
          record_types="A"):
    section = (f"[cloudflare]\napi_token = {token}\nzone = example.org\nhost = home\n"
               f"endpoint = {cloudflare.endpoint}\nrecord_types = {record_types}\n{extra}")
    return write_provider_config(tmp_path, chipmunk_server, "cloudflare", section)


def test_patches_content_and_keeps_ttl_and_proxied(tmp_path, chipmunk_server, cloudflare):
    result = run_client(write(tmp_path, chipmunk_server, cloudflare), "once")
    assert result.returncode == 0, result.stderr
    record = cloudflare.find(cloudflare.zone_id, "home.example.org", "A")
    assert (record["content"], record["ttl"], record["proxied"]) == ("127.0.0.1", 120, True)
    method, path, body = cloudflare.writes()[0]
    assert (method, body) == ("PATCH", {"content": "127.0.0.1"})
    assert path == f"/client/v4/zones/{cloudflare.zone_id}/dns_records/{record['id']}"
    assert ("GET", "/client/v4/zones?name=example.org", None) in cloudflare.requests


def test_sets_ttl_and_proxied_when_configured(tmp_path, chipmunk_server, cloudflare):
    config = write(tmp_path, chipmunk_server, cloudflare, extra="ttl = 300\nproxied = no\n")
    assert run_client(config, "once").returncode == 0
    record = cloudflare.find(cloudflare.zone_id, "home.example.org", "A")
    assert (record["ttl"], record["proxied"]) == (300, False)


def test_creates_aaaa_when_allowed(tmp_path, chipmunk_server, cloudflare):
    refused = run_client(write(tmp_path, chipmunk_server, cloudflare,
                               record_types="A, AAAA"), "once")
    assert refused.returncode == 78
    assert "home.example.org has no AAAA record; create it, or set [cloudflare] create" \
        in refused.stderr
    assert cloudflare.find(cloudflare.zone_id, "home.example.org", "A")["content"] == \
        "127.0.0.1", "the A record is served all the same"
    created = run_client(write(tmp_path, chipmunk_server, cloudflare,
                               record_types="A, AAAA", extra="create = yes\n"), "once")
    assert created.returncode == 0, created.stderr
    record = cloudflare.find(cloudflare.zone_id, "home.example.org", "AAAA")
    assert (record["content"], record["proxied"]) == ("::1", False)


def test_unchanged_record_costs_no_write(tmp_path, chipmunk_server, cloudflare):
    cloudflare.find(cloudflare.zone_id, "home.example.org", "A")["content"] = "127.0.0.1"
    assert run_client(write(tmp_path, chipmunk_server, cloudflare), "once").returncode == 0
    assert cloudflare.writes() == []


@pytest.mark.parametrize("token, zone, canned, code, words", [
    ("wrong-token-123", "example.org", None, 77, "Cloudflare: credentials refused (403): "
     "10000: Authentication error"),
    ("cf-token", "example.net", None, 78, "no zone 'example.net' for this token"),
    ("cf-token", "example.org", Canned(400, '{"success": false, "errors": [{"code": 6003,'
     ' "message": "Invalid request headers"}], "messages": [], "result": null}'), 77,
     "6003: Invalid request headers"),
    ("cf-token", "example.org", Canned(429, '{"success": false, "errors": [{"code": '
     '10013, "message": "Rate limited"}]}', {"Retry-After": "60"}), 75,
     "rate limited (429), retry after 60s: 10013: Rate limited"),
    ("cf-token", "example.org", Canned(502, "<html>Bad gateway</html>"), 75,
     "answered 502"),
    ("cf-token", "example.org", Canned(200, "not json"), 75, "the answer is not JSON"),
])
def test_error_table(tmp_path, chipmunk_server, cloudflare, token, zone, canned, code,
                     words):
    if canned:
        cloudflare.canned.append(canned)
    config = write(tmp_path, chipmunk_server, cloudflare, token=token)
    config.write_text(config.read_text().replace("zone = example.org", f"zone = {zone}"))
    result = run_client(config, "once")
    assert result.returncode == code, result.stderr
    assert words in result.stderr
    assert cloudflare.writes() == []
    assert "wrong-token-123" not in result.stderr, "tokens are never logged"
