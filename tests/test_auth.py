"""Password hashes, Basic parsing, the verify cache and the lockout table."""
from __future__ import annotations

import base64
import hashlib
import os
import signal
import threading

import pytest

from chipmunk.server.auth import Authenticator, Verdict, parse_basic
from chipmunk.server.lockout import LockoutTable, LoginLockout
from chipmunk.server.logincache import LoginCache
from chipmunk.server.passwords import (
    DUMMY_HASH,
    UserCredential,
    hash_password,
    parse_hash,
)
from hashes import CountingHash, HeldHash, user
from helpers import WAIT, basic, wait_until
from inprocess import Clock


def test_scrypt_hash_is_self_describing_and_verifies():
    text = hash_password("correct horse", log_n=10)
    assert text.startswith("$scrypt$ln=10,r=8,p=1$")
    parsed = parse_hash(text)
    assert parsed.verify(b"correct horse") and not parsed.verify(b"correct horsE")
    assert hash_password("correct horse", log_n=10) != text, "random salt"


def test_pbkdf2_hashes_made_elsewhere_verify():
    salt = b"0123456789abcdef"
    digest = hashlib.pbkdf2_hmac("sha256", b"pw", salt, 1000)
    text = "$pbkdf2-sha256$i=1000${}${}".format(
        base64.b64encode(salt).decode().rstrip("="),
        base64.b64encode(digest).decode().rstrip("="))
    assert parse_hash(text).verify(b"pw") and not parse_hash(text).verify(b"Pw")


@pytest.mark.parametrize("text", ["$md5$x$y$z", "$scrypt$ln=15$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
                                  "$scrypt$ln=15,r=8,p=1$!!$aGFzaA", "$pbkdf2-sha256$i=1$a$b"])
def test_malformed_hashes_are_refused(text):
    with pytest.raises(ValueError):
        parse_hash(text)


@pytest.mark.parametrize("header, expected", [
    (basic("alice", "pw"), ("alice", b"pw")),
    ("basic " + base64.b64encode(b"a:b:c").decode(), ("a", b"b:c")),
    (basic("zoë", "pässword"), ("zoë", "pässword".encode())),
    (None, None), ("", None), ("Basic", None), ("Digest abc", None),
    ("Basic ***", None), ("Basic " + base64.b64encode(b"nocolon").decode(), None),
    ("Basic " + base64.b64encode(b"\xc3(:pw").decode(), None),
])
def test_parse_basic(header, expected):
    assert parse_basic(header) == expected


def test_success_is_cached_under_a_keyed_digest_and_failures_are_not():
    bob = CountingHash(parse_hash(hash_password("builder")))
    cache = LoginCache()
    authenticator = Authenticator({"bob": UserCredential(bob, None)}, cache=cache)
    for _ in range(100):
        assert user(authenticator, basic("bob", "builder")) == "bob"
    assert bob.derivations == 1, "only the first success costs a hash"
    for _ in range(3):
        assert authenticator.check(basic("bob", "Builder")) == Verdict(None, "bob")
    assert bob.derivations == 4, "every failure costs a hash: none is cached"
    assert len(cache) == 1
    assert b"builder" not in cache._memory[:], "no password in the shared table"


def test_the_cache_is_one_for_every_worker_process():
    """The kernel sends a user's connections to either worker: a login one
    worker verified must not cost (or be refused) a hash in the other."""
    bob = CountingHash(parse_hash(hash_password("builder")))
    cache = LoginCache()
    authenticator = Authenticator({"bob": UserCredential(bob, None)}, cache=cache)
    pid = os.fork()
    if pid == 0:
        os._exit(0 if user(authenticator, basic("bob", "builder")) == "bob" else 1)
    assert os.waitpid(pid, 0)[1] == 0
    assert user(authenticator, basic("bob", "builder")) == "bob"
    assert bob.derivations == 0, "verified in the other process, not here"


def test_a_reload_keeps_the_cache_of_users_whose_password_did_not_change():
    bob = CountingHash(parse_hash(hash_password("builder")))
    carol = CountingHash(parse_hash(hash_password("carol-pw")))
    cache = LoginCache()
    before = Authenticator({"bob": UserCredential(bob, None),
                            "carol": UserCredential(carol, None),
                            "dave": UserCredential(None, b"dave-pw")}, cache=cache)
    for name, password in (("bob", "builder"), ("carol", "carol-pw"), ("dave", "dave-pw")):
        assert user(before, basic(name, password)) == name
    carol_now = CountingHash(parse_hash(hash_password("new-pw")))
    after = Authenticator({"bob": UserCredential(bob, None),
                           "carol": UserCredential(carol_now, None)}, cache=cache)
    assert user(after, basic("bob", "builder")) == "bob"
    assert bob.derivations == 1, "bob's cached login survived the reload"
    assert user(after, basic("carol", "carol-pw")) is None, "the old password is gone"
    assert user(after, basic("dave", "dave-pw")) is None, "a removed user is gone"
    assert user(after, basic("carol", "new-pw")) == "carol"


def test_the_cache_is_bounded_and_keeps_the_newest():
    cache = LoginCache(capacity=64)
    digests = [cache.digest("u", b"", str(n).encode()) for n in range(1000)]
    for digest in digests:
        cache.add(digest)
    assert len(cache) <= 64 and digests[-1] in cache


@pytest.mark.parametrize("password, expected", [("builder", "bob"), ("wrong", None)])
def test_concurrent_checks_of_one_credential_cost_one_hash(password, expected):
    bob = HeldHash(parse_hash(hash_password("builder")))
    authenticator = Authenticator({"bob": UserCredential(bob, None)})
    results: list[str | None] = []
    threads = [threading.Thread(target=lambda: results.append(
        user(authenticator, basic("bob", password)))) for _ in range(8)]
    for thread in threads:
        thread.start()
    wait_until(lambda: [v.waiters for v in authenticator._verifying.values()] == [7],
               "one verification under way, seven checks waiting for it")
    bob.release.set()
    for thread in threads:
        thread.join(WAIT)
    assert results == [expected] * 8
    assert bob.derivations == 1


def test_unknown_user_costs_one_hash_like_a_wrong_password():
    """The timing itself is measured by make bench; here, the work is the same."""
    dummy = CountingHash(DUMMY_HASH)
    bob = CountingHash(parse_hash(hash_password("builder")))
    authenticator = Authenticator({"alice": UserCredential(None, b"pw"),
                                   "bob": UserCredential(bob, None)}, dummy=dummy)
    assert user(authenticator, basic("nobody", "pw")) is None
    assert (dummy.derivations, bob.derivations) == (1, 0)
    assert user(authenticator, basic("bob", "wrong")) is None
    assert (dummy.derivations, bob.derivations) == (1, 1)
    assert user(authenticator, basic("alice", "wrong")) is None
    assert dummy.derivations == 2, "a wrong plain-text password costs a hash too"
    reference = parse_hash(hash_password("x"))
    assert (DUMMY_HASH.algorithm, DUMMY_HASH.params) == (reference.algorithm,
                                                         reference.params)


def test_lockout_episode_with_an_injected_clock():
    clock = Clock()
    limiter = LoginLockout(limit=3, window=10, lockout=60, clock=clock)
    assert [limiter.record_failure("192.0.2.1") for _ in range(2)] == [None, None]
    clock.now += 11  # the window passed: those two no longer count
    assert [limiter.record_failure("192.0.2.1") for _ in range(3)] == [None, None,
                                                                    "192.0.2.1/32"]
    assert limiter.retry_after("192.0.2.1") == 61 and limiter.retry_after("192.0.2.2") == 0
    assert limiter.record_failure("192.0.2.1") is None, "no second episode while locked"
    clock.now += 59.5
    assert limiter.retry_after("192.0.2.1") == 1
    clock.now += 1
    assert limiter.retry_after("192.0.2.1") == 0


def test_lockout_table_is_bounded():
    clock = Clock()
    limiter = LoginLockout(limit=2, window=10, lockout=60, clock=clock,
                           table=LockoutTable(capacity=96))
    for n in range(1000):
        limiter.record_failure(f"10.0.{n // 256}.{n % 256}")
    assert limiter.tracked() == 96


def test_one_ipv6_host_rotating_through_its_64_is_one_client():
    limiter = LoginLockout(limit=10, window=60, lockout=300, clock=Clock())
    started = [limiter.record_failure(f"2001:db8:1:2::{n:x}") for n in range(1, 51)]
    assert started[9] == "2001:db8:1:2::/64" and started.count(None) == 49, "10 tries, not 500"
    assert limiter.retry_after("2001:db8:1:2:ffff::1") > 0, "the whole /64"
    assert limiter.retry_after("2001:db8:1:3::1") == 0, "the next /64 is someone else"
    assert limiter.network("2001:db8:1:2::7") == "2001:db8:1:2::/64"


def test_ipv4_is_per_address_unless_configured():
    per_address = LoginLockout(limit=2, window=60, lockout=300, clock=Clock())
    per_24 = LoginLockout(limit=2, window=60, lockout=300, ipv4_prefix=24, clock=Clock())
    for limiter in (per_address, per_24):
        limiter.record_failure("192.0.2.1")
        limiter.record_failure("192.0.2.2")
    assert (per_address.retry_after("192.0.2.3"), per_24.retry_after("192.0.2.3") > 0) == \
        (0, True)


def test_a_flood_of_fresh_addresses_never_evicts_an_active_lockout():
    clock = Clock()
    limiter = LoginLockout(limit=2, window=10, lockout=600, clock=clock,
                           table=LockoutTable(capacity=96))
    limiter.record_failure("198.51.100.7")
    assert limiter.record_failure("198.51.100.7") == "198.51.100.7/32"
    for n in range(25_000):  # cheap failures, each from a fresh address
        limiter.record_failure(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}")
        if n % 5000 == 0:
            clock.now += 1
    assert limiter.retry_after("198.51.100.7") > 0, "still locked out"
    assert limiter.tracked() == 96


def test_a_failure_with_no_room_at_all_is_not_counted_and_refuses_nobody():
    limiter = LoginLockout(limit=1, window=10, lockout=600, clock=Clock(),
                           table=LockoutTable(capacity=3))
    assert all(limiter.record_failure(f"192.0.2.{n}") for n in range(3))
    assert limiter.record_failure("203.0.113.9") is None and limiter.uncounted == 1
    assert limiter.retry_after("203.0.113.9") == 0 and limiter.retry_after("198.51.100.1") == 0
    assert all(limiter.retry_after(f"192.0.2.{n}") > 0 for n in range(3)), "none evicted"


def test_a_failure_is_forgotten_after_the_window_never_before():
    clock = Clock()
    clock.now = 1000.3
    limiter = LoginLockout(limit=2, window=10, lockout=60, clock=clock)
    limiter.record_failure("192.0.2.1")
    clock.now += 9.9
    assert limiter.record_failure("192.0.2.1"), "both within 10 s"
    limiter.record_failure("192.0.2.2")
    clock.now += 10 + 10 / 16  # the window, plus the slice it was counted in
    assert limiter.record_failure("192.0.2.2") is None, "the first one is forgotten"


def test_a_reload_keeps_lockouts_and_failures_even_with_a_new_window():
    clock, table = Clock(), LockoutTable()
    before = LoginLockout(limit=2, window=10, lockout=60, clock=clock, table=table)
    before.record_failure("192.0.2.1")
    before.record_failure("192.0.2.1")
    before.record_failure("192.0.2.2")
    same = LoginLockout(limit=2, window=10, lockout=60, clock=clock, table=table)
    assert same.retry_after("192.0.2.1") == 61
    assert same.record_failure("192.0.2.2"), "the earlier failure still counts"
    wider = LoginLockout(limit=2, window=30, lockout=60, clock=clock, table=table)
    assert wider.retry_after("192.0.2.1") == 61, "a new window restarts counts, not lockouts"


def test_under_a_wide_attack_failures_count_for_the_enclosing_site():
    """One IPv6 site locks out enough of its /64s to fill a bucket; a further
    /64 of it is then counted as the whole /48, which is locked out as one,
    and a network that did not fail is not refused."""
    clock = Clock()
    limiter = LoginLockout(limit=2, window=60, lockout=600, clock=clock,
                           table=LockoutTable(capacity=32))  # 2 buckets of 16
    table = limiter.table

    def bucket(address: str, wider: bool = False) -> int:
        return table.bucket_of(limiter._keys(address)[1 if wider else 0])

    site = [f"2001:db8:1:{n:x}::1" for n in range(1, 4096)]
    target = next(a for a in site if bucket(a) != bucket(a, wider=True))
    fillers = [a for a in site if a != target and bucket(a) == bucket(target)][:16]
    for address in fillers:
        limiter.record_failure(address)
        assert limiter.record_failure(address) == limiter.network(address)
    bystander = next(f"2001:db8:2:{n:x}::1" for n in range(1, 4096)
                     if bucket(f"2001:db8:2:{n:x}::1") == bucket(target))
    assert limiter.retry_after(bystander) == 0, "a full bucket refuses nobody who did not fail"
    assert limiter.record_failure(target) is None
    assert limiter.record_failure(target) == "2001:db8:1::/48"
    assert limiter.retry_after(target) == 601
    assert limiter.retry_after("2001:db8:1:ffff::9") == 601, "the whole site"
    assert limiter.retry_after(bystander) == 0 and limiter.uncounted == 0


def test_worker_processes_count_into_one_table():
    """The table is shared memory made before fork: a failure counted in one
    process counts in the others, and a process killed while it holds the
    table's lock does not block them (the kernel drops its flock)."""
    table = LockoutTable()
    limiter = LoginLockout(limit=3, window=60, lockout=60, table=table)
    child = os.fork()
    if child == 0:  # a worker: two failures, then dies holding the lock
        try:
            limiter.record_failure("192.0.2.1")
            limiter.record_failure("192.0.2.1")
            with table.locked():
                os.kill(os.getpid(), signal.SIGKILL)
        finally:
            os._exit(1)
    _, status = os.waitpid(child, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert limiter.record_failure("192.0.2.1"), "the third, counted in another process"
    assert limiter.retry_after("192.0.2.1") > 0 and limiter.locked_out() == 1
