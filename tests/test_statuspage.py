"""The status page: in-process for what it says, in real headless Chromium
for what a person sees (a screenshot, the DOM, the console, the CSP)."""
from __future__ import annotations

import base64
import hashlib
import re
import subprocess

import pytest

from chipmunk.server import statuspage
from helpers import WAIT, basic, server_config
from inprocess import Client, make_app

USERS = "alice = wonderland\nbob = builder\n"
HOSTNAMES = "[Hostnames]\nalice = home.example.org, nas.example.org\nbob = bob.example.org\n"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture
def client(tmp_path) -> Client:
    app = Client(make_app(tmp_path, "publish_non_global = yes\n", users=USERS, extra=HOSTNAMES))
    for user, password, name in (("alice", "wonderland", "home.example.org"),
                                 ("bob", "builder", "bob.example.org")):
        app.request("GET", f"/nic/update?hostname={name}&myip=192.0.2.7,2001:db8::7",
                    authorization=basic(user, password))
    return app


def test_text_for_curl(client):
    status, headers, body = client.request("GET", "/", HOST="dyn.example.org")
    text = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert "your address:  192.0.2.10 (IPv4, as seen now)" in text
    assert "stored (.cm):  192.0.2.7" in text
    assert re.search(r"home.example.org IPv6: 2001:db8::7 \(changed \d{4}-\d\d-\d\d ", text)
    assert "nas.example.org IPv4: - (changed -)" in text
    assert "router update URL: http://dyn.example.org/nic/update?hostname=home.example.org" \
        "&myip=<ipaddr>" in text
    assert "bob" not in text and "wonderland" not in text


def test_html_for_a_browser_under_a_csp_that_allows_its_own_style(client):
    status, headers, body = client.request("GET", "/", ACCEPT=BROWSER)
    page = body.decode()
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    style = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    policy = headers["Content-Security-Policy"]
    assert f"style-src 'sha256-{digest}'" in policy and "default-src 'none'" in policy
    assert "<script" not in page and "http" not in page.split("<pre")[0].replace(
        "http-equiv", ""), "no external assets"
    assert "home.example.org" in page and "bob.example.org" not in page
    assert 'name="viewport"' in page


def test_names_are_escaped(tmp_path):
    app = Client(make_app(tmp_path, users=USERS, extra=HOSTNAMES))
    page = app.request("GET", "/", ACCEPT=BROWSER, HOST="<b>x</b>")[2].decode()
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page


def test_a_browser_asking_without_credentials_is_not_a_failed_login(client):
    for _ in range(20):  # more than auth_failure_limit
        status, headers, _ = client.request("GET", "/", authorization=None, ACCEPT=BROWSER)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
    assert client.request("GET", "/")[0] == 200, "not locked out"


def chromium(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
         "--enable-logging=stderr", "--v=0", "--window-size=412,915", *args, url],
        capture_output=True, text=True, timeout=WAIT * 4)


def test_in_real_chromium(tmp_path, start_server):
    state = tmp_path / "state"
    state.mkdir()
    server = start_server(server_config(state, users=USERS, listen="127.0.0.1:0",
                                        server="publish_non_global = yes\n")
                          + "\n" + HOSTNAMES)
    host, port = server.addresses[0]
    server.request("GET", "/nic/update?hostname=home.example.org&myip=192.0.2.7",
                   {"Authorization": basic("alice", "wonderland")})
    url = f"http://alice:wonderland@{host}:{port}/"
    dom = chromium(url, "--dump-dom")
    assert "Chipmunk for alice" in dom.stdout, dom.stderr
    assert "home.example.org" in dom.stdout and "nas.example.org" in dom.stdout
    assert "bob.example.org" not in dom.stdout
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], "no console errors (a blocked inline style is one)"
    screenshot = tmp_path / "status.png"
    shot = chromium(url, f"--screenshot={screenshot}")
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", shot.stderr
    assert "auth-failed" not in server.stderr(), "the browser's first, bare request"


def test_the_csp_hash_is_of_the_style_as_sent():
    digest = hashlib.sha256(statuspage.STYLE.encode()).digest()
    assert statuspage.STYLE_HASH == base64.b64encode(digest).decode()
