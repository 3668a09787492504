"""Client address resolution, in-process (through a real nginx: test_proxy_nginx)."""
from __future__ import annotations

import ipaddress

import pytest

from chipmunk.server.forwarded import RemoteAddressResolver, forwarded_hops, normalize

TRUSTED = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")]


def origin(peer: str, header: str = "x-forwarded-for", scheme: str = "http", **headers: str):
    environ = {"REMOTE_ADDR": peer, "wsgi.url_scheme": scheme}
    environ.update({f"HTTP_{name.upper()}": value for name, value in headers.items()})
    return RemoteAddressResolver(TRUSTED, header).origin(environ)


def resolve(peer: str, header: str = "x-forwarded-for", **headers: str) -> str:
    return str(origin(peer, header, **headers).address)


def test_ipv4_mapped_ipv6_is_reported_as_ipv4():
    assert str(normalize("::ffff:192.0.2.7")) == "192.0.2.7"
    assert str(normalize("fe80::1%eth0")) == "fe80::1"


@pytest.mark.parametrize("peer, headers, expected", [
    ("203.0.113.5", {"x_forwarded_for": "198.51.100.1"}, "203.0.113.5"),
    ("10.0.0.1", {"x_forwarded_for": "198.51.100.1"}, "198.51.100.1"),
    ("fd00::1", {"x_forwarded_for": "2001:db8::5, fd00::2"}, "2001:db8::5"),
    ("10.0.0.1", {"x_forwarded_for": "192.0.2.1:8080"}, "192.0.2.1"),
    ("10.0.0.1", {"x_forwarded_for": "10.1.1.1, 10.2.2.2"}, "10.1.1.1"),
    ("10.0.0.1", {}, "10.0.0.1"),
    # what the client wrote left of the first untrusted hop never matters
    ("10.0.0.1", {"x_forwarded_for": "unknown, 192.0.2.1"}, "192.0.2.1"),
    ("10.0.0.1", {"x_forwarded_for": "garbage,,, 203.0.113.66, 192.0.2.1"}, "192.0.2.1"),
    # the header the config does not name is the client's own text
    ("10.0.0.1", {"forwarded": "for=203.0.113.66", "x_forwarded_for": "192.0.2.1"},
     "192.0.2.1"),
    ("10.0.0.1", {"forwarded": "for=203.0.113.66"}, "10.0.0.1"),
])
def test_x_forwarded_for(peer, headers, expected):
    assert resolve(peer, **headers) == expected


@pytest.mark.parametrize("peer, headers, expected", [
    ("::ffff:10.0.0.1", {"forwarded": "for=192.0.2.60;proto=http;by=203.0.113.43"},
     "192.0.2.60"),
    ("10.0.0.1", {"forwarded": 'For="[2001:db8:cafe::17]:4711"'}, "2001:db8:cafe::17"),
    ("10.0.0.1", {"forwarded": 'for="192.0.2.43:47011", for=10.9.9.9'}, "192.0.2.43"),
    ("10.0.0.1", {"forwarded": "for=10.1.1.1, for=10.2.2.2"}, "10.1.1.1"),
    ("10.0.0.1", {"forwarded": 'for="192.0.2.1";host="a,b;c", for=10.2.2.2'}, "192.0.2.1"),
    ("10.0.0.1", {"forwarded": 'for="203.0.113.66, for=192.0.2.1'}, "192.0.2.1"),
    ("10.0.0.1", {"forwarded": "for=_hidden, for=192.0.2.1"}, "192.0.2.1"),
    ("10.0.0.1", {"x_forwarded_for": "203.0.113.66"}, "10.0.0.1"),
])
def test_forwarded(peer, headers, expected):
    assert resolve(peer, "forwarded", **headers) == expected


@pytest.mark.parametrize("header, value", [
    ("x-forwarded-for", "192.0.2.1, unknown"),  # the trusted proxy wrote garbage
    ("x-forwarded-for", "192.0.2.1,"),
    ("forwarded", "for=192.0.2.1, for=unknown"),
    ("forwarded", "proto=https"),
    ("forwarded", "for=192.0.2.1;for=192.0.2.2"),
    ("forwarded", 'for="[2001:db8::1"'),
])
def test_an_unreadable_entry_a_trusted_proxy_wrote_is_refused_not_blamed_on_it(header, value):
    with pytest.raises(ValueError):
        resolve("10.0.0.1", header, **{header.replace("-", "_"): value})


def test_the_scheme_is_a_trusted_proxys_word_only():
    assert origin("10.0.0.1", x_forwarded_for="192.0.2.1",
                  x_forwarded_proto="https").scheme == "https"
    assert origin("203.0.113.5", x_forwarded_for="192.0.2.1",
                  x_forwarded_proto="https").scheme == "http"
    assert origin("10.0.0.1", "forwarded",
                  forwarded="for=192.0.2.1;proto=https").scheme == "https"
    assert origin("10.0.0.1", scheme="https").scheme == "https"


def test_forwarded_elements_are_parsed_from_the_right_and_only_as_far_as_needed():
    hops = forwarded_hops('for="unterminated, for=192.0.2.2;proto=https')
    first = next(hops)
    assert (str(first.address), first.proto) == ("192.0.2.2", "https")
    with pytest.raises(ValueError):
        next(hops)
