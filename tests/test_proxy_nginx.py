"""chipmunk-server behind a real nginx, configured as the README says.

Clients reach nginx from several loopback addresses (127.0.0.5 and up), so
the address nginx reports is each client's own; nginx reaches the server
from 127.0.0.1, the one trusted proxy.
"""
from __future__ import annotations

import http.client

import pytest

from benchmarks.harness import wrk
from helpers import REPO, WAIT, basic, server_config
from nginx import FORWARDED, X_FORWARDED_FOR, Nginx

ALICE = basic("alice", "wonderland")
WRONG = basic("alice", "guess")
HOSTNAMES = "[Hostnames]\nalice = home.example.org\n"


def proxied_server(tmp_path, start_server, proxy_header: str = "x-forwarded-for",
                   extra: str = ""):
    state = tmp_path / "state"
    state.mkdir()
    return start_server(server_config(state, listen="127.0.0.1:0", server=(
        f"trusted_proxies = 127.0.0.1\nproxy_header = {proxy_header}\n"
        "auth_failure_limit = 10\nauth_lockout = 300\npublish_non_global = yes\n" + extra))
        + "\n" + HOSTNAMES)


@pytest.fixture
def nginx_for(tmp_path):
    started: list[Nginx] = []

    def start(server, **kwargs) -> Nginx:
        proxy = Nginx(tmp_path / f"nginx{len(started)}", server.addresses[0], **kwargs)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


def get(proxy: Nginx, path: str, source: str, authorization: str = ALICE,
        **headers: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=WAIT,
                                            source_address=(source, 0))
    try:
        connection.request("GET", path, headers={"Authorization": authorization, **headers})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_a_clients_own_headers_never_name_its_address(tmp_path, start_server, nginx_for):
    server = proxied_server(tmp_path, start_server)
    proxy = nginx_for(server)
    for forged in ({"Forwarded": "for=203.0.113.66"}, {"X-Forwarded-For": "203.0.113.66"},
                   {"X-Forwarded-For": "unknown"}, {"X-Forwarded-For": '"[, garbage'}):
        assert get(proxy, "/ip", "127.0.0.5", **forged) == (200, "127.0.0.5\n"), forged
    # dyndns2 without myip publishes the client's address: not a forged one, and
    # not the proxy's own when the client sent garbage (Squid's "unknown")
    update = "/nic/update?hostname=home.example.org"
    assert get(proxy, update, "127.0.0.6", Forwarded="for=203.0.113.66") == \
        (200, "good 127.0.0.6\n")
    assert get(proxy, update, "127.0.0.7", **{"X-Forwarded-For": "unknown"}) == \
        (200, "good 127.0.0.7\n")


def test_rotating_forged_addresses_are_counted_for_the_real_client(tmp_path, start_server,
                                                                   nginx_for):
    server = proxied_server(tmp_path, start_server)
    proxy = nginx_for(server)
    statuses = [get(proxy, "/ip", "127.0.0.8", WRONG, Forwarded=f"for=203.0.113.{n}",
                    **{"X-Forwarded-For": f"198.51.100.{n}"})[0] for n in range(12)]
    assert statuses == [401] * 10 + [429] * 2


def test_forged_failures_naming_a_victim_lock_out_the_forger_only(tmp_path, start_server,
                                                                 nginx_for):
    server = proxied_server(tmp_path, start_server)
    proxy = nginx_for(server)
    victim = "127.0.0.10"
    for _ in range(10):
        get(proxy, "/ip", "127.0.0.9", WRONG, Forwarded=f"for={victim}",
            **{"X-Forwarded-For": victim})
    assert get(proxy, "/ip", "127.0.0.9")[0] == 429, "the forger is locked out"
    assert get(proxy, "/ip", victim) == (200, f"{victim}\n"), "the victim is not"
    log = server.stderr()
    assert "failed login from 127.0.0.9" in log and f"failed login from {victim}" not in log
    assert "127.0.0.9/32 failed to log in 10 times" in log


def test_with_proxy_header_forwarded_nginx_replaces_what_the_client_sent(
        tmp_path, start_server, nginx_for):
    server = proxied_server(tmp_path, start_server, proxy_header="forwarded")
    proxy = nginx_for(server, headers=FORWARDED)
    for forged in ({"Forwarded": "for=203.0.113.66"}, {"X-Forwarded-For": "203.0.113.66"},
                   {"Forwarded": 'for="203.0.113.66'}):
        assert get(proxy, "/ip", "127.0.0.11", **forged) == (200, "127.0.0.11\n"), forged


@pytest.mark.parametrize("keepalive", [False, True])
def test_200_clients_through_nginx_get_no_error(tmp_path, start_server, nginx_for, keepalive):
    """Every connection comes from nginx: the per-client cap (64) capped nginx
    itself, and 100 clients got hundreds of 502s."""
    server = proxied_server(tmp_path, start_server, extra="workers = 2\n")
    proxy = nginx_for(server, keepalive=keepalive)
    result = wrk(f"{proxy.url}/ip", ALICE, connections=200, seconds=3)
    assert (result.socket_errors, result.bad_responses) == (0, 0), result
    assert result.requests_per_second > 0


def test_the_readme_shows_the_proxy_lines_these_tests_use():
    readme = (REPO / "README.md").read_text()
    for lines in (X_FORWARDED_FOR, FORWARDED):
        assert lines in readme
