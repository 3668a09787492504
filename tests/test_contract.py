"""Every built-in provider, and lexicon's powerdns, through the contract tests.

Each subject runs against the real thing or a local fake that follows the
service's documented API: BIND for rfc2136, PowerDNS for lexicon, the Linode
and Cloudflare fakes, a dyndns2 fake, a real file, a real program.
"""
from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest

from bind import KEY_NAME, ZONE, Named
from chipmunk.errors import (
    Misconfigured,
    RefusedByService,
    TemporaryError,
)
from chipmunk.providers import Record
from chipmunk.providers.contract import ContractSubject, ProviderContract, make_provider
from fake_cloudflare import FakeCloudflare
from fake_dyndns2 import FakeDynDNS2
from fake_linode import FakeLinode
from pdns import PowerDNS


def closed_port() -> int:
    """A loopback port nobody listens on: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class TestHostsFile(ProviderContract):
    @pytest.fixture
    def subject(self, tmp_path):
        hosts = tmp_path / "hosts"

        def observe(name: str) -> list[str]:
            lines = hosts.read_text().splitlines() if hosts.exists() else []
            return [line.split()[0] for line in lines
                    if line.split()[1:] == name.split() and "." in line.split()[0]]

        (tmp_path / "a-file").write_text("")
        return ContractSubject(
            provider=make_provider("hostsfile", f"path = {hosts}\nnames = home.lan home\n"),
            record=Record("hostsfile", "home.lan home", "A"), observe=observe,
            other_name="nas.lan",
            failures=[(make_provider("hostsfile", f"path = {tmp_path}/a-file/hosts\n"
                                     "host = home\n"), Misconfigured)])


class TestRFC2136(ProviderContract):
    @pytest.fixture
    def subject(self, tmp_path):
        (tmp_path / "named").mkdir()
        named = Named(tmp_path / "named").start()
        section = (f"server = 127.0.0.1\nport = {{port}}\nzone = {ZONE}\nhost = home\n"
                   f"key_name = {KEY_NAME}\nkey_secret = {{secret}}\n")
        yield ContractSubject(
            provider=make_provider("rfc2136", section.format(port=named.port,
                                                             secret=named.secret)),
            record=Record("rfc2136", f"home.{ZONE}", "A"),
            observe=lambda name: named.query(name, "A"), other_name=f"nas.{ZONE}",
            refused=make_provider("rfc2136", section.format(port=named.port,
                                                            secret=named.other_secret)),
            failures=[(make_provider("rfc2136", section.format(port=closed_port(),
                                                               secret=named.secret)),
                       TemporaryError)])
        named.stop()


class TestLinode(ProviderContract):
    @pytest.fixture
    def subject(self):
        with FakeLinode() as fake:
            domain = fake.add_domain("example.org")
            section = ("api_key = {token}\nendpoint = {endpoint}\ndomain = example.org\n"
                       "host = home\ncreate = yes\n")

            def observe(name: str) -> list[str]:
                relative = name.removesuffix(".example.org")
                return [r["target"] for r in fake.records[domain]
                        if r["name"] == relative and r["type"] == "A"]

            yield ContractSubject(
                provider=make_provider("linode", section.format(token=fake.token,
                                                                endpoint=fake.endpoint)),
                record=Record("linode", "home.example.org", "A"), observe=observe,
                other_name="nas.example.org",
                refused=make_provider("linode", section.format(token="wrong",
                                                               endpoint=fake.endpoint)),
                failures=[
                    (make_provider("linode", section.format(
                        token=fake.token, endpoint=f"http://127.0.0.1:{closed_port()}/v4")),
                     TemporaryError),
                    (make_provider("linode", section.replace("example.org", "nowhere.org")
                                   .format(token=fake.token, endpoint=fake.endpoint)),
                     Misconfigured)])


class TestCloudflare(ProviderContract):
    @pytest.fixture
    def subject(self):
        with FakeCloudflare() as fake:
            zone_id = fake.add_zone("example.org")
            section = ("api_token = {token}\nendpoint = {endpoint}\nzone = example.org\n"
                       "host = home\ncreate = yes\n")

            def observe(name: str) -> list[str]:
                return [r["content"] for r in fake.records[zone_id]
                        if r["name"] == name and r["type"] == "A"]

            yield ContractSubject(
                provider=make_provider("cloudflare", section.format(
                    token=fake.token, endpoint=fake.endpoint)),
                record=Record("cloudflare", "home.example.org", "A"), observe=observe,
                other_name="nas.example.org",
                refused=make_provider("cloudflare", section.format(
                    token="wrong", endpoint=fake.endpoint)),
                failures=[(make_provider("cloudflare", section.format(
                    token=fake.token, endpoint=f"http://127.0.0.1:{closed_port()}")),
                    TemporaryError)])


class TestDynDNS2(ProviderContract):
    @pytest.fixture
    def subject(self):
        fake = FakeDynDNS2()
        section = ("server = {url}\nusername = me\npassword = {password}\n"
                   "hostname = home.example.org\n")

        def observe(name: str) -> list[str]:
            sent = [r["query"]["myip"][0] for r in fake.requests
                    if r["query"].get("hostname") == [name] and r["user"] == "me:update-key"]
            return sent[-1:]

        yield ContractSubject(
            provider=make_provider("dyndns2", section.format(url=fake.url,
                                                             password="update-key")),
            record=Record("dyndns2", "home.example.org", "A"), observe=observe,
            other_name="nas.example.org",
            refused=make_provider("dyndns2", section.format(url=fake.url, password="wrong")),
            failures=[(make_provider("dyndns2", section.format(
                url=f"http://127.0.0.1:{closed_port()}", password="update-key")),
                TemporaryError)])
        fake.close()


def script(path: Path, body: str) -> Path:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


class TestCommand(ProviderContract):
    @pytest.fixture
    def subject(self, tmp_path):
        seen = tmp_path / "seen"
        seen.mkdir()
        good = script(tmp_path / "good", f'echo "$CHIPMUNK_IP" > "{seen}/$1"')

        def observe(name: str) -> list[str]:
            path = seen / name
            return path.read_text().split() if path.exists() else []

        def command(program: Path | str, extra: str = "") -> object:
            return make_provider("command", f"command = {program}\nhost = home\n{extra}")

        return ContractSubject(
            provider=command(good), record=Record("command", "home", "A"), observe=observe,
            other_name="router",
            failures=[
                (command(script(tmp_path / "later", "exit 75")), TemporaryError),
                (command(script(tmp_path / "no", "echo 'not allowed' >&2; exit 3")),
                 RefusedByService),
                (command(script(tmp_path / "slow", "sleep 30"), "timeout = 0.5\n"),
                 TemporaryError),
                (command(tmp_path / "missing"), Misconfigured)])


class TestLexiconPowerDNS(ProviderContract):
    @pytest.fixture
    def subject(self, tmp_path):
        (tmp_path / "pdns").mkdir()
        pdns = PowerDNS(tmp_path / "pdns").start()
        pdns.create_zone()
        section = (f"zone = {ZONE}\nhost = home\nttl = 60\nauth_token = {{key}}\n"
                   "pdns_server = {url}\npdns_disable_notify = yes\n")
        yield ContractSubject(
            provider=make_provider("powerdns", section.format(key=pdns.api_key, url=pdns.url)),
            record=Record("powerdns", f"home.{ZONE}", "A"),
            observe=lambda name: pdns.query(name, "A"), other_name=f"nas.{ZONE}",
            refused=make_provider("powerdns", section.format(key="wrong", url=pdns.url)),
            failures=[
                (make_provider("powerdns", section.format(
                    key=pdns.api_key, url=f"http://127.0.0.1:{closed_port()}")),
                 TemporaryError),
                (make_provider("powerdns", section.replace(ZONE, "nowhere.test").format(
                    key=pdns.api_key, url=pdns.url)), Misconfigured)])
        pdns.stop()
