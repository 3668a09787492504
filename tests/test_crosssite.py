"""Requests a browser sends for another site change nothing; programs are unaffected.

In-process for the rules; then real headless Chromium: a user logged into
the status page visits pages on another loopback origin that redirect to
/nic/update and submit forms to /set and /nic/update.
"""
from __future__ import annotations

import subprocess
import threading
from http.server import ThreadingHTTPServer

import pytest

from browser import Browser
from helpers import WAIT, basic, server_config
from inprocess import Client, make_app
from localhttp import QuietHandler

HOSTNAMES = "[Hostnames]\nalice = home.example.org\n"
#: the attack's address would be published, were the request not cross-site
PUBLISHABLE = "publish_non_global = yes\n"
UPDATE = "/nic/update?hostname=home.example.org&myip=203.0.113.77"


@pytest.fixture
def client(tmp_path) -> Client:
    return Client(make_app(tmp_path, PUBLISHABLE, extra=HOSTNAMES))


def published(tmp_path) -> str | None:
    path = tmp_path / "hostnames" / "home.example.org"
    return path.read_text() if path.exists() else None


@pytest.mark.parametrize("headers", [
    {"SEC_FETCH_SITE": "cross-site"},
    {"SEC_FETCH_SITE": "same-site"},
    {"SEC_FETCH_SITE": "none"},  # typed, or a link from mail that a site redirected
    {"ORIGIN": "http://evil.example"},
    {"ORIGIN": "null"},
    {"ORIGIN": "https://localhost"},  # another scheme is another origin
    {"SEC_FETCH_SITE": "same-origin", "ORIGIN": "http://evil.example"},
])
def test_a_cross_site_request_changes_nothing(client, tmp_path, headers):
    for path, method in ((UPDATE, "GET"), ("/set", "POST"), ("/set", "GET")):
        status, _, body = client.request(method, path, HOST="localhost", **headers)
        assert (status, body) == (403, b"Cross-site request refused\n")
    assert published(tmp_path) is None and not (tmp_path / "alice.cm").exists()


@pytest.mark.parametrize("headers", [
    {},  # routers, ddclient, inadyn, wget, curl
    {"SEC_FETCH_SITE": "same-origin", "ORIGIN": "http://localhost"},
    {"ORIGIN": "http://localhost:80"},
])
def test_programs_and_the_users_own_browser_still_update(client, tmp_path, headers):
    status, _, body = client.request("GET", UPDATE, HOST="localhost", **headers)
    assert (status, body) == (200, b"good 203.0.113.77\n")


def test_reading_is_not_refused_and_the_status_page_cannot_be_framed(client):
    status, headers, _ = client.request("GET", "/ip", SEC_FETCH_SITE="cross-site")
    assert status == 200
    for accept in ("text/html", "*/*"):
        headers = client.request("GET", "/", ACCEPT=accept)[1]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY"


def test_public_url_is_the_origin_and_the_router_url(tmp_path):
    client = Client(make_app(tmp_path, PUBLISHABLE + "public_url = https://ddns.example.org/\n",
                             extra=HOSTNAMES))
    page = client.request("GET", "/", HOST="127.0.0.1:8080")[2].decode()
    assert "https://ddns.example.org/nic/update?hostname=home.example.org" in page
    assert client.request("GET", UPDATE, ORIGIN="https://ddns.example.org")[0] == 200
    assert client.request("GET", UPDATE, ORIGIN="http://127.0.0.1:8080",
                          HOST="127.0.0.1:8080")[0] == 403


def test_behind_a_tls_proxy_the_router_url_is_https(tmp_path):
    client = Client(make_app(tmp_path, "trusted_proxies = 10.0.0.0/8\n", extra=HOSTNAMES))
    page = client.request("GET", "/", peer="10.0.0.1", HOST="ddns.example.org",
                          X_FORWARDED_FOR="198.51.100.4", X_FORWARDED_PROTO="https")[2]
    assert b"https://ddns.example.org/nic/update?" in page
    untrusted = client.request("GET", "/", HOST="ddns.example.org",
                               X_FORWARDED_PROTO="https")[2]
    assert b"http://ddns.example.org/nic/update?" in untrusted


class AttackerPages(QuietHandler):
    """Another site: it sends the visitor's browser to the chipmunk server."""

    target = ""

    def do_GET(self) -> None:
        if self.path in ("/redirect", "/redirect-to-read"):
            path = UPDATE if self.path == "/redirect" else "/ip"
            self.answer(302, "", "text/plain", {"Location": self.target + path})
            return
        if self.path == "/post-set":
            form = f'<form method="POST" action="{self.target}/set"></form>'
        else:  # /get-update: a GET form to /nic/update
            form = (f'<form method="GET" action="{self.target}/nic/update">'
                    '<input name="hostname" value="home.example.org">'
                    '<input name="myip" value="203.0.113.79"></form>')
        self.answer(200, f"<!DOCTYPE html><html><body>{form}<script>"
                         "document.forms[0].submit()</script></body></html>", "text/html")


@pytest.fixture
def attacker():
    server = ThreadingHTTPServer(("127.0.0.2", 0), AttackerPages)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.2:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=WAIT)


def test_in_real_chromium_a_logged_in_browser_cannot_be_used_by_another_site(
        tmp_path, start_server, attacker):
    state = tmp_path / "state"
    state.mkdir()
    server = start_server(server_config(state, listen="127.0.0.1:0", server=PUBLISHABLE)
                          + "\n" + HOSTNAMES)
    host, port = server.addresses[0]
    own = f"http://{host}:{port}"
    AttackerPages.target = own
    browser = Browser(tmp_path / "profile")
    try:
        browser.navigate(f"http://alice:wonderland@{host}:{port}/", lands_on=own)
        assert "Chipmunk for alice" in browser.text(), "logged in"
        for page, lands_on in (("/redirect", own + "/nic/update"),
                               ("/post-set", own + "/set"),
                               ("/get-update", own + "/nic/update")):
            browser.navigate(attacker + page, lands_on=lands_on)
            assert browser.text().strip() == "Cross-site request refused", page
        assert not (state / "hostnames").exists(), "the record did not move"
        assert not (state / "alice.cm").exists(), "/set stored nothing"
        assert "a browser sent it for another site" in server.stderr()
        # The same browser, the user's own typed URL: refused too (a link from
        # mail to another site that redirects here arrives just like it).
        browser.navigate(own + UPDATE)
        assert browser.text().strip() == "Cross-site request refused"

        # The browser does send the user's credentials on such a redirect: a
        # read-only page answers with them (without, 401 and no address).
        browser.navigate(attacker + "/redirect-to-read", lands_on=own + "/ip")
        assert browser.text().strip() == "127.0.0.1"
    finally:
        browser.close()
    assert not (state / "hostnames").exists(), "the record did not move"

    # curl, as a program updates, is not affected: the same URL publishes
    curl = subprocess.run(["curl", "-sS", "-u", "alice:wonderland", own + UPDATE],
                          capture_output=True, text=True, timeout=WAIT)
    assert curl.stdout == "good 203.0.113.77\n", curl.stderr


def test_a_router_update_url_with_credentials_still_works_in_curl_and_wget(tmp_path,
                                                                           start_server):
    state = tmp_path / "state"
    state.mkdir()
    server = start_server(server_config(state, listen="127.0.0.1:0", server=PUBLISHABLE)
                          + "\n" + HOSTNAMES)
    host, port = server.addresses[0]
    wget = subprocess.run(["wget", "-qO-", "--auth-no-challenge", "--user=alice",
                           "--password=wonderland", f"http://{host}:{port}{UPDATE}"],
                          capture_output=True, text=True, timeout=WAIT)
    assert wget.stdout == "good 203.0.113.77\n", wget.stderr
    assert server.request("GET", UPDATE, {"Authorization": basic("alice", "wonderland")})[2] \
        == b"nochg 203.0.113.77\n"
