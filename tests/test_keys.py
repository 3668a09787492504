"""Scoped keys and the acme-dns API, against a real chipmunk-server that
publishes to a real BIND (RFC 2136): a router key updates its one name (curl
and Debian's ddclient) and opens nothing else; an ACME key sets the TXT
challenge of its name as acme-dns does, and nothing else.  Every write is
checked by asking named, never by trusting the answer."""
from __future__ import annotations

import concurrent.futures
import json
import re

import pytest

from bind import HOME, NAS, ZONE, publishing_config
from chipmunk.config import ConfigError
from chipmunk.server.settings import load_text
from fake_cloudflare import FakeCloudflare
from helpers import basic, wait_until
from routers import ddclient
from scopedkeys import new_key

CHALLENGE = f"_acme-challenge.{HOME}"
TXT1, TXT2, TXT3 = ("A" * 43, "b-_" + "B" * 40, "c" * 43)


@pytest.fixture
def keyed(tmp_path, named, start_server):
    """A server whose config has a router key and an ACME key for HOME."""
    router, router_secret, router_fragment = new_key(HOME)
    acme, acme_secret, acme_fragment = new_key(HOME, "--acme")
    config = publishing_config(tmp_path, named) + router_fragment + acme_fragment
    server = start_server(config)
    host, port = server.addresses[0]
    server.port = port
    server.router = (router, router_secret)
    server.acme = (acme, acme_secret)
    return server


def update(server, query: str, credentials: tuple[str, str]) -> tuple[int, str]:
    status, _, body = server.request("GET", f"/nic/update?{query}",
                                     {"Authorization": basic(*credentials)})
    return status, body.decode()


def acme_update(server, credentials: tuple[str, str] | None, document,
                path: str = "/update") -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if credentials:
        headers.update({"X-Api-User": credentials[0], "X-Api-Key": credentials[1]})
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    status, response_headers, answer = server.request("POST", path, headers, body=body)
    if not response_headers.get("Content-Type", "").startswith("application/json"):
        return status, {"text": answer.decode()}
    return status, json.loads(answer)


def test_a_router_key_updates_its_own_name_and_nothing_else(keyed, named):
    router = keyed.router
    assert update(keyed, f"hostname={HOME}&myip=192.0.2.31", router) == \
        (200, "good 192.0.2.31\n")
    assert named.query(HOME, "A") == ["192.0.2.31"]
    assert update(keyed, f"hostname={NAS}&myip=192.0.2.31", router) == (401, "badauth\n")
    assert update(keyed, f"hostname={HOME},{NAS}&myip=192.0.2.32", router)[0] == 401
    assert named.query(NAS, "A") == [] and named.query(HOME, "A") == ["192.0.2.31"]
    for method, path in (("GET", "/"), ("GET", "/get/ip"), ("GET", "/get/ip.json"),
                         ("GET", "/ip"), ("POST", "/set")):
        assert keyed.request(method, path, {"Authorization": basic(*router)})[0] == 401, path
    assert not (keyed.config.parent / "state" / f"{router[0]}.cm").exists()
    assert acme_update(keyed, router, {"subdomain": router[0], "txt": TXT1}) == \
        (401, {"error": "forbidden"}), "a router key is not an ACME key"
    assert named.query(CHALLENGE, "TXT") == []
    # the user's own password still does everything
    assert update(keyed, f"hostname={NAS}&myip=192.0.2.33", ("alice", "wonderland")) == \
        (200, "good 192.0.2.33\n")


def test_ddclient_with_a_router_key(tmp_path, keyed, named):
    said = ddclient(tmp_path, keyed.port, *keyed.router, HOME, "192.0.2.41")
    assert named.query(HOME, "A") == ["192.0.2.41"], said


def test_the_acme_dns_api_keeps_the_two_most_recent_challenges(keyed, named):
    acme = keyed.acme
    address = named.query(HOME, "A")
    assert acme_update(keyed, acme, {"subdomain": acme[0], "txt": TXT1}) == \
        (200, {"txt": TXT1})
    assert named.query(CHALLENGE, "TXT") == [f'"{TXT1}"']
    # lego's older goacmedns capitalises the keys; acme-dns accepts them
    assert acme_update(keyed, acme, {"SubDomain": acme[0], "Txt": TXT2},
                       "/acme/update") == (200, {"txt": TXT2})
    assert named.query(CHALLENGE, "TXT") == sorted([f'"{TXT1}"', f'"{TXT2}"'])
    assert acme_update(keyed, acme, {"subdomain": acme[0], "txt": TXT3})[0] == 200
    assert named.query(CHALLENGE, "TXT") == sorted([f'"{TXT2}"', f'"{TXT3}"'])
    # an ACME key cannot move the address
    assert update(keyed, f"hostname={HOME}&myip=192.0.2.51", acme) == (401, "badauth\n")
    assert named.query(HOME, "A") == address


def test_a_name_and_its_wildcard_at_once_keep_both_challenges(keyed, named):
    """Caddy solves the challenges of a name and its wildcard in parallel:
    two updates at once must leave both values in DNS, every time."""
    acme = keyed.acme
    for round_ in range(8):
        values = [f"{round_}{side}" + "x" * 41 for side in "ab"]
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda txt: acme_update(
                keyed, acme, {"subdomain": acme[0], "txt": txt}), values))
        assert [status for status, _ in answers] == [200, 200], keyed.stderr()[-2000:]
        assert named.query(CHALLENGE, "TXT") == sorted(f'"{value}"' for value in values), \
            f"round {round_}"


@pytest.mark.parametrize("document, status, error", [
    ({"subdomain": "{key}", "txt": "short"}, 400, "bad_txt"),
    ({"subdomain": "{key}", "txt": "A" * 42 + "="}, 400, "bad_txt"),
    ({"subdomain": "{key}", "txt": "A" * 44}, 400, "bad_txt"),
    ({"subdomain": "{key}"}, 400, "bad_txt"),
    ({"txt": TXT1}, 400, "bad_subdomain"),
    ({"subdomain": "5d1f3e2a-0000-4000-8000-000000000000", "txt": TXT1}, 401, "forbidden"),
    (b"{not json", 400, "malformed_json_payload"),
    (b"[1, 2]", 400, "malformed_json_payload"),
    (b'{"txt": "' + b"A" * 8000 + b'"}', 413, None),
    (b"[" * 4000, 400, "malformed_json_payload"),
], ids=["short", "padded", "long", "no-txt", "no-subdomain", "another-subdomain",
        "not-json", "not-an-object", "huge", "nested-too-deep"])
def test_bad_acme_requests_write_nothing(keyed, named, document, status, error):
    acme = keyed.acme
    if isinstance(document, dict):
        document = {k: v.replace("{key}", acme[0]) for k, v in document.items()}
    answer = acme_update(keyed, acme, document)
    assert answer[0] == status and (error is None or answer[1] == {"error": error}), answer
    assert named.query(CHALLENGE, "TXT") == []


def test_acme_credentials_are_checked_and_counted(keyed, named):
    acme_id, _ = keyed.acme
    assert acme_update(keyed, (acme_id, "wrong" * 8), {"subdomain": acme_id,
                                                      "txt": TXT1}) == \
        (401, {"error": "forbidden"})
    assert acme_update(keyed, None, {"subdomain": acme_id, "txt": TXT1})[0] == 401
    assert acme_update(keyed, ("alice", "wonderland"), {"subdomain": acme_id,
                                                       "txt": TXT1})[0] == 401, \
        "the API is for keys only"
    assert named.query(CHALLENGE, "TXT") == []
    assert "failed login" in keyed.stderr() and acme_id in keyed.stderr()


def test_health_needs_no_credentials_and_get_update_stays_dyndns2(keyed, named):
    assert keyed.request("GET", "/health")[0] == 200
    status, _, body = keyed.request("GET", f"/update?hostname={HOME}&myip=192.0.2.61",
                                    {"Authorization": basic("alice", "wonderland")})
    assert (status, body) == (200, b"good 192.0.2.61\n")


@pytest.mark.parametrize("fragment, words", [
    ("[Key 0123456789]\nhostname = other.example.org\nupdate = yes\nhash = {hash}\n",
     "not a name in any user's [Hostnames]"),
    ("[Key 0123456789]\nhostname = {home}\nhash = {hash}\n", "the key may do nothing"),
    ("[Key 0123456789]\nhostname = {home}\nupdate = yes\n", "hash: required key"),
    ("[Key 0123456789]\nhostname = {home}\nupdate = yes\nhash = hunter2\n",
     "expected a hash from chipmunk-server new-key"),
    ("[Key 0123456789]\nhostname = {home}\nupdate = yes\nhash = {hash}\ncolor = red\n",
     "unknown key"),
    ("[Key alice]\nhostname = {home}\nupdate = yes\nhash = {hash}\n",
     "a key id has 8 to 64"),
    ("[Key bad/id99]\nhostname = {home}\nupdate = yes\nhash = {hash}\n",
     "a key id has 8 to 64"),
])
def test_check_refuses_a_key_that_cannot_work(tmp_path, fragment, words):
    _, _, good = new_key(HOME)
    hashed = re.search(r"(?m)^hash = (.*)$", good).group(1)
    text = (f"[Paths]\nclient_update_dir = {tmp_path}\n[Hostnames]\nalice = {HOME}\n"
            f"[Users]\nalice = wonderland\n"
            + fragment.format(home=HOME, hash=hashed))
    with pytest.raises(ConfigError) as caught:
        load_text(text)
    assert words in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_new_key_output_appended_to_the_config_passes_check(tmp_path):
    _, _, fragment = new_key(f"x.{ZONE}", "--update", "--acme")
    text = (f"[Paths]\nclient_update_dir = {tmp_path}\n[Hostnames]\nalice = x.{ZONE}\n"
            f"[Users]\nalice = wonderland\n" + fragment)
    settings = load_text(text)
    (key,) = settings.keys.values()
    assert key.hostname == f"x.{ZONE}" and key.scopes == {"update", "acme"}
    assert settings.owned(key.key_id) == (f"x.{ZONE}",)


def publishing_to(tmp_path, provider: str, section: str, fragment: str) -> str:
    """A server config whose alice owns HOME, published through ``provider``."""
    state = tmp_path / "state"
    state.mkdir()
    return (f"[Paths]\nclient_update_dir = {state}\n[Server]\nlisten = 127.0.0.1:0\n"
            f"workers = 1\n[Hostnames]\nalice = {HOME}\n[Publish]\nprovider = {provider}\n"
            f"[{provider}]\nzone = {ZONE}\n{section}[Users]\nalice = wonderland\n{fragment}")


def set_three_challenges(server, acme_id: str, secret: str) -> None:
    for txt in (TXT1, TXT2, TXT3):
        assert acme_update(server, (acme_id, secret), {"subdomain": acme_id, "txt": txt}) \
            == (200, {"txt": txt})


def test_the_acme_dns_api_through_lexicon_to_powerdns(tmp_path, pdns, start_server):
    token = tmp_path / "pdns-key"
    token.write_text(pdns.api_key)
    acme_id, secret, fragment = new_key(HOME, "--acme")
    server = start_server(publishing_to(
        tmp_path, "powerdns", f"pdns_server = {pdns.url}\nauth_token_file = {token}\n"
        "pdns_server_id = localhost\n", fragment))
    set_three_challenges(server, acme_id, secret)
    assert pdns.query(CHALLENGE, "TXT") == sorted([f'"{TXT2}"', f'"{TXT3}"'])


def test_expired_challenges_leave_dns_without_a_new_update(tmp_path, named, start_server):
    acme_id, secret, fragment = new_key(HOME, "--acme")
    config = publishing_config(tmp_path, named).replace(
        "[Publish]\n", "[Publish]\nchallenge_lifetime = 2\n") + fragment
    server = start_server(config)
    assert acme_update(server, (acme_id, secret), {"subdomain": acme_id, "txt": TXT1})[0] \
        == 200
    assert named.query(CHALLENGE, "TXT") == [f'"{TXT1}"']
    wait_until(lambda: named.query(CHALLENGE, "TXT") == [], "the sweep", timeout=8)


def test_the_acme_dns_api_through_cloudflare(tmp_path, start_server):
    """Cloudflare's API (a local stand-in following its documented behaviour:
    several TXT records per name, DELETE by id) holds the two most recent."""
    acme_id, secret, fragment = new_key(HOME, "--acme")
    with FakeCloudflare() as cloudflare:
        zone_id = cloudflare.add_zone(ZONE)
        server = start_server(publishing_to(
            tmp_path, "cloudflare", f"api_token = cf-token\nendpoint = {cloudflare.endpoint}\n",
            fragment))
        set_three_challenges(server, acme_id, secret)
        held = sorted(r["content"] for r in cloudflare.records[zone_id]
                      if r["type"] == "TXT" and r["name"] == CHALLENGE)
        assert held == sorted([TXT2, TXT3])
