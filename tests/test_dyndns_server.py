"""chipmunk-server's dyndns2 endpoint in-process: the protocol as clients need it.

Without [Publish] the accepted addresses go to the state directory's
per-hostname files, which these tests read as another program would.  The
real publishing (BIND), the real clients (ddclient, inadyn, wget, curl) and
several servers are in tests/test_dyndns_clients.py.
"""
from __future__ import annotations

import logging

import pytest

from chipmunk.config import ConfigError
from chipmunk.server.publisher import check_publishers
from chipmunk.server.settings import load_text
from fake_cloudflare import FakeCloudflare
from fake_linode import FakeLinode
from helpers import basic
from inprocess import Client, make_app

HOSTNAMES = "[Hostnames]\nalice = home.example.org, nas.example.org\nbob = bob.example.org\n"
USERS = "alice = wonderland\nbob = builder\n"
#: these tests publish documentation addresses (192.0.2.0/24, 2001:db8::/32)
DOCUMENTATION_ADDRESSES = "publish_non_global = yes\n"


@pytest.fixture
def client(tmp_path) -> Client:
    return Client(make_app(tmp_path, DOCUMENTATION_ADDRESSES, users=USERS, extra=HOSTNAMES))


def update(client: Client, query: str, **kwargs) -> tuple[int, dict, str]:
    status, headers, body = client.request("GET", f"/nic/update?{query}", **kwargs)
    return status, headers, body.decode()


def stored(tmp_path, hostname: str) -> str:
    path = tmp_path / "hostnames" / hostname
    return path.read_text() if path.exists() else ""


def test_good_then_nochg_with_content_length(client, tmp_path):
    status, headers, body = update(client, "hostname=home.example.org&myip=192.0.2.7")
    assert (status, body) == (200, "good 192.0.2.7\n")
    assert headers["Content-Type"].startswith("text/plain")
    assert headers["Content-Length"] == str(len(body))
    assert stored(tmp_path, "home.example.org") == "A 192.0.2.7\n"
    assert (tmp_path / "updated").exists() and (tmp_path / "alice.cm").read_text() == \
        "192.0.2.7\n"
    assert update(client, "hostname=home.example.org&myip=192.0.2.7")[2] == \
        "nochg 192.0.2.7\n"


def test_one_line_per_hostname_in_request_order(client, tmp_path):
    body = update(client, "hostname=nas.example.org,bob.example.org,HOME.Example.org.,"
                          "not_a..name,x&myip=192.0.2.8")[2]
    assert body == "good 192.0.2.8\nnohost\ngood 192.0.2.8\nnotfqdn\nnotfqdn\n"
    assert stored(tmp_path, "home.example.org") == "A 192.0.2.8\n", \
        "case and a trailing dot do not matter"
    assert not (tmp_path / "hostnames" / "bob.example.org").exists()


def test_dual_stack_is_one_line_and_families_are_independent(client, tmp_path):
    fritzbox = "hostname=home.example.org&myip=192.0.2.7,2001:db8::7"
    assert update(client, fritzbox)[2] == "good 192.0.2.7,2001:db8::7\n"
    assert stored(tmp_path, "home.example.org") == "A 192.0.2.7\nAAAA 2001:db8::7\n"
    assert update(client, "hostname=home.example.org&myip=192.0.2.9")[2] == \
        "good 192.0.2.9\n"
    assert stored(tmp_path, "home.example.org") == "A 192.0.2.9\nAAAA 2001:db8::7\n", \
        "a v4-only update leaves AAAA alone"
    assert update(client, "hostname=home.example.org&myipv6=2001:db8::9")[2] == \
        "good 192.0.2.10,2001:db8::9\n", "without myip: the address seen, plus myipv6"
    assert (tmp_path / "alice.cm").read_text() == "192.0.2.10\n", "IPv4 when both"


@pytest.mark.parametrize("query, answer", [
    ("hostname=home.example.org&myip=2001%3adb8%3a%3a5", "good 2001:db8::5"),
    ("hostname=home.example.org&myip=2001:db8::5/64", "good 2001:db8::5"),
    ("hostname=home.example.org%2Cnas.example.org&myip=192.0.2.5%2C2001:db8::5",
     "good 192.0.2.5,2001:db8::5\ngood 192.0.2.5,2001:db8::5"),
    ("hostname=home.example.org&myip=192.0.2.5/32&system=dyndns&wildcard=NOCHG&mx=x"
     "&backmx=NO&offline=NO", "good 192.0.2.5"),
    ("hostname=home.example.org&myip=", "good 192.0.2.10"),
    ("hostname=home.example.org&myip=::ffff:192.0.2.5", "good 192.0.2.5"),
    ("hostname=home.example.org", "good 192.0.2.10"),
])
def test_what_real_clients_send(client, query, answer):
    assert update(client, query)[2] == answer + "\n"


@pytest.mark.parametrize("query, answer", [
    ("myip=192.0.2.7", "notfqdn"),
    ("hostname=&myip=192.0.2.7", "notfqdn"),
    ("hostname=" + ",".join(f"h{i}.example.org" for i in range(21)), "numhost"),
    ("hostname=home.example.org,nas.example.org&myip=192.0.2.300", "dnserr\ndnserr"),
    ("hostname=home.example.org&myip=example.org", "dnserr"),
    ("hostname=home.example.org&myip=192.0.2.1,192.0.2.2", "dnserr"),
    ("hostname=home.example.org&myipv6=192.0.2.1", "dnserr"),
    ("hostname=home.example.org&myip=fe80::1%25eth0", "dnserr"),
    ("hostname=home.example.org&myip=0.0.0.0", "dnserr"),
    ("hostname=home.example.org&myip=::", "dnserr"),
    ("hostname=home.example.org&myip=224.0.0.1", "dnserr"),
    ("hostname=home.example.org&myip=192.0.2.1,2001:db8::1,192.0.2.1", "dnserr"),
])
def test_refusals(client, tmp_path, query, answer):
    assert update(client, query)[2] == answer + "\n"
    assert not (tmp_path / "hostnames").exists(), "nothing published"


def test_the_other_paths_and_head(client, tmp_path):
    assert update(client, "hostname=home.example.org&myip=192.0.2.7")[2].startswith("good")
    for path in ("/v3/update", "/update"):
        status, _, body = client.request("GET", f"{path}?hostname=home.example.org&"
                                         "myip=192.0.2.7")
        assert (status, body) == (200, b"nochg 192.0.2.7\n")
    status, headers, body = client.request("HEAD", "/nic/update?hostname=home.example.org"
                                           "&myip=192.0.2.6")
    assert (status, headers["Allow"]) == (405, "GET"), "HEAD changes nothing anywhere"
    assert stored(tmp_path, "home.example.org") == "A 192.0.2.7\n"


@pytest.mark.parametrize("myip", ["127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.1.1",
                                  "169.254.1.1", "fe80::1", "240.0.0.1", "192.0.2.1",
                                  "198.51.100.1", "203.0.113.1", "2001:db8::1", "fc00::1",
                                  "100.64.0.1", "8.8.8.8,fc00::1"])
def test_by_default_only_global_unicast_addresses_are_published(tmp_path, myip, caplog):
    client = Client(make_app(tmp_path, users=USERS, extra=HOSTNAMES))
    assert update(client, f"hostname=home.example.org&myip={myip}")[2] == "dnserr\n"
    assert not (tmp_path / "hostnames").exists(), "nothing published"
    assert "not published" in caplog.text
    if myip.startswith("100.64."):
        assert "carrier-grade NAT" in caplog.text


def test_global_addresses_are_published_and_the_peer_counts_as_a_claim(tmp_path):
    client = Client(make_app(tmp_path, users=USERS, extra=HOSTNAMES))
    assert update(client, "hostname=home.example.org&myip=8.8.8.8,2a00:1450::1")[2] == \
        "good 8.8.8.8,2a00:1450::1\n"
    assert update(client, "hostname=home.example.org", peer="9.9.9.9")[2] == "good 9.9.9.9\n"
    # without myip the peer's own address is the claim: a loopback peer is refused
    assert update(client, "hostname=home.example.org", peer="127.0.0.1")[2] == "dnserr\n"


def test_publish_non_global_takes_any_unicast_address_but_never_broadcast(tmp_path):
    client = Client(make_app(tmp_path, DOCUMENTATION_ADDRESSES, users=USERS, extra=HOSTNAMES))
    assert update(client, "hostname=home.example.org&myip=10.0.0.1")[2] == "good 10.0.0.1\n"
    assert update(client, "hostname=home.example.org&myip=255.255.255.255")[2] == "dnserr\n"


def test_the_log_names_the_peer_and_the_claim_apart_and_caps_what_a_client_sent(
        client, caplog):
    caplog.set_level(logging.INFO, logger="chipmunk")
    update(client, "hostname=home.example.org&myip=192.0.2.7", peer="198.51.100.9")
    [changed] = [r for r in caplog.records
                 if getattr(r, "CHIPMUNK_EVENT", "") == "address-changed"]
    assert (changed.CHIPMUNK_CLIENT_IP, changed.CHIPMUNK_IP) == ("198.51.100.9", "192.0.2.7")
    caplog.clear()
    update(client, "hostname=home.example.org&myip=" + "9" * 15000)
    assert "malformed myip" in caplog.text and len(caplog.text) < 1000
    caplog.clear()
    update(client, "hostname=bob.example.org&myip=192.0.2.7")
    assert "'bob.example.org' is not a hostname of theirs (nohost)" in caplog.text


@pytest.mark.parametrize("authorization", [None, basic("alice", "wrong"),
                                           basic("nobody", "x")])
def test_bad_credentials_are_a_401_challenge_saying_badauth(client, authorization):
    status, headers, body = update(client, "hostname=home.example.org&myip=192.0.2.7",
                                   authorization=authorization)
    assert (status, body) == (401, "badauth\n")
    assert headers["WWW-Authenticate"].startswith("Basic realm=")


def test_a_user_updates_only_their_own_names(client, tmp_path):
    assert update(client, "hostname=home.example.org&myip=192.0.2.7",
                  authorization=basic("bob", "builder"))[2] == "nohost\n"
    assert update(client, "hostname=bob.example.org&myip=192.0.2.7",
                  authorization=basic("bob", "builder"))[2] == "good 192.0.2.7\n"


BASE = "[Paths]\nclient_update_dir = /tmp\n[Users]\nalice = a\nbob = b\n"
RFC2136 = ("[Publish]\nprovider = rfc2136\n[rfc2136]\nserver = 127.0.0.1\n"
           "zone = example.org\nkey_name = k\nkey_secret = c2VjcmV0\n")


@pytest.mark.parametrize("text, words", [
    (BASE + "[Hostnames]\ncarol = c.example.org\n", "[Hostnames] carol: no such user"),
    (BASE + "[Hostnames]\nalice = home\n", "[Hostnames] alice = 'home': 'home' is not a "
     "fully qualified host name"),
    (BASE + "[Hostnames]\nalice = h.example.org\nbob = H.example.org.\n",
     "[Hostnames] bob = 'H.example.org.': h.example.org is also alice's"),
    (BASE + RFC2136 + "[Hostnames]\nalice = home.example.net\n",
     "[Hostnames] alice: home.example.net lies outside every publishing provider's zone "
     "([rfc2136] zone = example.org)"),
    (BASE + "[Publish]\nprovider = nosuchdns\n", "[Publish] provider = 'nosuchdns': "
     "unknown provider"),
    (BASE + RFC2136.replace("zone = example.org\n", ""), "[rfc2136] zone: required key"),
])
def test_check_refuses(text, words):
    """What check finds: the config, and then the publishers it would build."""
    with pytest.raises(ConfigError) as caught:
        check_publishers(load_text(text))
    assert words in str(caught.value)


def test_provider_sections_need_no_host_on_the_server():
    settings = load_text(BASE + RFC2136 + "[Hostnames]\nalice = home.example.org\n")
    assert settings.publish == ("rfc2136",)
    assert settings.provider_values["rfc2136"]["host"] == ()
    assert settings.hostnames == {"alice": ("home.example.org",)}


def test_cloudflare_linode_and_a_hosts_file_publish_too(tmp_path):
    """Each hostname goes to the providers whose zone holds it; a hosts file
    has no zone and takes every name."""
    with FakeCloudflare() as cloudflare, FakeLinode() as linode:
        zone_id = cloudflare.add_zone("example.org")
        domain_id = linode.add_domain("example.net")
        extra = (
            "[Hostnames]\nalice = home.example.org, nas.example.net\n"
            "[Publish]\nprovider = cloudflare, linode, hostsfile\n"
            f"[cloudflare]\napi_token = {cloudflare.token}\nzone = example.org\n"
            f"endpoint = {cloudflare.endpoint}\ncreate = yes\nrecord_types = A, AAAA\n"
            f"[linode]\napi_key = {linode.token}\ndomain = example.net\n"
            f"endpoint = {linode.endpoint}\ncreate = yes\n"
            f"[hostsfile]\npath = {tmp_path}/hosts\n")
        client = Client(make_app(tmp_path, DOCUMENTATION_ADDRESSES, users=USERS, extra=extra))
        assert update(client, "hostname=home.example.org,nas.example.net"
                              "&myip=192.0.2.7")[2] == "good 192.0.2.7\ngood 192.0.2.7\n"
        assert cloudflare.find(zone_id, "home.example.org", "A")["content"] == "192.0.2.7"
        assert linode.find(domain_id, "nas", "A")["target"] == "192.0.2.7"
        assert cloudflare.find(zone_id, "nas.example.net", "A") is None
        assert (tmp_path / "hosts").read_text() == \
            "192.0.2.7 home.example.org\n192.0.2.7 nas.example.net\n"
        assert update(client, "hostname=home.example.org&myip=192.0.2.7")[2] == \
            "nochg 192.0.2.7\n"
        assert not (tmp_path / "hostnames").exists(), "published: no state files"
