"""Client address resolution, in-process (the HTTP path is in test_server_security)."""
from __future__ import annotations

import ipaddress

import pytest

from chipmunk.server.forwarded import RemoteAddressResolver, forwarded_chain, normalize

TRUSTED = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")]


def resolve(peer: str, **headers: str) -> str:
    environ = {"REMOTE_ADDR": peer}
    environ.update({f"HTTP_{name.upper()}": value for name, value in headers.items()})
    return str(RemoteAddressResolver(TRUSTED).resolve(environ))


def test_ipv4_mapped_ipv6_is_reported_as_ipv4():
    assert str(normalize("::ffff:192.0.2.7")) == "192.0.2.7"
    assert str(normalize("fe80::1%eth0")) == "fe80::1"


@pytest.mark.parametrize("peer, headers, expected", [
    ("203.0.113.5", {"x_forwarded_for": "198.51.100.1"}, "203.0.113.5"),
    ("10.0.0.1", {"x_forwarded_for": "198.51.100.1"}, "198.51.100.1"),
    ("fd00::1", {"x_forwarded_for": "2001:db8::5, fd00::2"}, "2001:db8::5"),
    ("::ffff:10.0.0.1", {"forwarded": "for=192.0.2.60;proto=http;by=203.0.113.43"},
     "192.0.2.60"),
    ("10.0.0.1", {"forwarded": 'For="[2001:db8:cafe::17]:4711"'}, "2001:db8:cafe::17"),
    ("10.0.0.1", {"forwarded": 'for="192.0.2.43:47011", for=10.9.9.9'}, "192.0.2.43"),
    ("10.0.0.1", {"forwarded": "for=10.1.1.1, for=10.2.2.2"}, "10.1.1.1"),
    ("10.0.0.1", {"x_forwarded_for": "192.0.2.1:8080"}, "192.0.2.1"),
    ("10.0.0.1", {"x_forwarded_for": "192.0.2.1, garbage"}, "10.0.0.1"),
    ("10.0.0.1", {"forwarded": "proto=https"}, "10.0.0.1"),
    ("10.0.0.1", {"forwarded": "for=_hidden"}, "10.0.0.1"),
    ("10.0.0.1", {"forwarded": "for=192.0.2.1;for=192.0.2.2"}, "10.0.0.1"),
    ("10.0.0.1", {"forwarded": 'for="[2001:db8::1"'}, "10.0.0.1"),
    ("10.0.0.1", {}, "10.0.0.1"),
])
def test_resolution(peer, headers, expected):
    assert resolve(peer, **headers) == expected


def test_forwarded_quoted_strings_may_hold_separators():
    chain = forwarded_chain('for="192.0.2.1";host="a,b;c", for=192.0.2.2')
    assert [str(a) for a in chain] == ["192.0.2.1", "192.0.2.2"]
