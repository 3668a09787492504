"""The hashing budget: shared by processes, freed when a holder dies, never in a
cached login's way."""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from chipmunk.server.auth import Authenticator
from chipmunk.server.budget import HashBudget, HashBudgetExhausted, WaitingRoom
from chipmunk.server.passwords import UserCredential, hash_password, parse_hash
from hashes import HeldHash, user
from helpers import WAIT, basic, wait_until
from inprocess import Client, Clock, make_app


def hold_in_child(budget: HashBudget) -> tuple[int, int]:
    """A forked child that takes a slot and waits to be killed; (pid, pipe)."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            with budget.slot():
                os.write(writer, b"held")
                signal.pause()
        finally:
            os._exit(0)
    os.close(writer)
    assert os.read(reader, 4) == b"held"
    return pid, reader


def test_slots_are_shared_across_processes_and_freed_when_the_holder_dies():
    budget = HashBudget(1)
    pid, reader = hold_in_child(budget)
    try:
        with pytest.raises(HashBudgetExhausted), budget.slot():
            pass
        assert budget.refused == 1
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(reader)
    with budget.slot():  # the kernel dropped the dead child's lock
        pass


def test_two_slots_allow_two_holders():
    budget = HashBudget(2)
    with budget.slot(), budget.slot():
        with pytest.raises(HashBudgetExhausted), budget.slot():
            pass


def test_a_login_past_the_budget_is_refused_unhashed_and_cached_ones_pass():
    bob = HeldHash(parse_hash(hash_password("builder")))
    carol = HeldHash(parse_hash(hash_password("carol-pw")))
    budget = HashBudget(1)
    authenticator = Authenticator({"alice": UserCredential(None, b"pw"),
                                   "bob": UserCredential(bob, None),
                                   "carol": UserCredential(carol, None)}, budget=budget)
    carol.release.set()
    assert user(authenticator, basic("carol", "carol-pw")) == "carol"  # now cached
    holder = threading.Thread(target=authenticator.check, args=(basic("bob", "wrong"),))
    holder.start()
    assert bob.entered.wait(WAIT), "bob's hash holds the only slot"
    try:
        with pytest.raises(HashBudgetExhausted):  # an unknown user costs a hash too
            authenticator.check(basic("nobody", "x"), lambda: ("192.0.2.0/32", 99))
        assert carol.derivations == 1
        assert user(authenticator, basic("carol", "carol-pw")) == "carol", "cached: no wait"
        assert user(authenticator, basic("alice", "pw")) == "alice", "plain: no hash, no slot"
    finally:
        bob.release.set()
        holder.join(WAIT)
    assert user(authenticator, basic("nobody", "x")) is None, "a free slot again"


def test_a_patient_login_takes_the_slot_as_it_frees_and_impatient_ones_yield(tmp_path):
    budget = HashBudget(1)
    pid, reader = hold_in_child(budget)
    got = threading.Event()

    def patient() -> None:
        with budget.slot(patience=WAIT):
            got.set()

    waiter = threading.Thread(target=patient)
    try:
        waiter.start()
        wait_until(budget._someone_waits, "the patient login to announce itself")
        with pytest.raises(HashBudgetExhausted), budget.slot():
            pass
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(reader)
    waiter.join(WAIT)
    assert got.is_set(), "the freed slot went to the patient login"
    with budget.slot():  # nobody waits now: an impatient one gets a free slot
        pass


def test_a_patient_login_waits_no_longer_than_its_patience():
    budget = HashBudget(1)
    with budget.slot():
        started = time.monotonic()
        with pytest.raises(HashBudgetExhausted), budget.slot(patience=0.3):
            pass
        assert 0.3 <= time.monotonic() - started < 1.0


def test_the_same_login_twice_at_once_with_a_free_slot_is_accepted_twice():
    """Two checks of one credential at once (an ACME client's name and
    wildcard): the first registers, then reaches the free slot a moment
    later; the second waits for it instead of being refused (503)."""
    bob = UserCredential(parse_hash(hash_password("builder")), None)
    authenticator = Authenticator({"bob": bob}, budget=HashBudget(1))
    results = []

    def slow_place() -> tuple[str, int]:
        time.sleep(0.02)  # between registering and the slot: where the second came
        return "192.0.2.1/32", 0

    def check(place) -> None:
        results.append(authenticator.check(basic("bob", "builder"), place).user)

    first = threading.Thread(target=check, args=(slow_place,))
    first.start()
    time.sleep(0.005)
    check(lambda: ("192.0.2.2/32", 0))
    first.join(WAIT)
    assert results == ["bob", "bob"]


def test_the_same_login_does_not_wait_behind_one_queued_for_a_slot():
    """Checks of one credential wait for the hash under way; but while that one
    still waits for a slot, a flood repeating the credential would hold every
    thread (past the waiting room's cap): they are refused at once instead."""
    bob = HeldHash(parse_hash(hash_password("builder")))
    budget = HashBudget(1)
    authenticator = Authenticator({"bob": UserCredential(bob, None)}, budget=budget)
    pid, reader = hold_in_child(budget)
    def first() -> None:
        try:  # it gets the slot once the child is killed, or runs out of patience
            authenticator.check(basic("bob", "guess"), lambda: ("192.0.2.1/32", 0))
        except HashBudgetExhausted:
            pass

    queued = threading.Thread(target=first)
    try:
        queued.start()
        wait_until(budget._someone_waits, "the first check to queue for the slot")
        started = time.monotonic()
        with pytest.raises(HashBudgetExhausted):
            authenticator.check(basic("bob", "guess"), lambda: ("192.0.2.2/32", 0))
        assert time.monotonic() - started < 0.2, "refused at once, not after the queue"
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(reader)
        bob.release.set()
        queued.join(WAIT)


def test_the_waiting_room_queues_by_failures_then_arrival():
    room = WaitingRoom(2)
    with room.enter("192.0.2.1/32", 3) as flooder, room.enter("192.0.2.1/32", 0) as again:
        assert flooder is not None and again is None, "one waiter per network"
        with room.enter("192.0.2.2/32", 3) as second:
            assert room.turn(flooder) and not room.turn(second), "equal: first come"
            with room.enter("192.0.2.3/32", 3) as third:
                assert third is None, "full, and no fewer failures than anyone"
            with room.enter("192.0.2.4/32", 0) as person:
                assert person is not None and room.turn(person), "fewer failures: first"
                assert room.turn(second) is None, "the worst place was given up"
                room.failed("192.0.2.4/32")
                room.failed("192.0.2.4/32")
                room.failed("192.0.2.4/32")
                room.failed("192.0.2.4/32")
                assert room.turn(flooder), "a waiter falls back as its network fails on"
    with room.enter("192.0.2.1/32", 5) as later:
        assert later is not None, "left: room again"


def test_a_network_refused_a_slot_is_counted_until_it_is_locked_out(tmp_path, caplog):
    clock = Clock()
    app = make_app(tmp_path, "auth_failure_limit = 2\n",
                   users=f"bob = {hash_password('builder')}\n", clock=clock)
    client = Client(app)
    assert client.request("GET", "/ip", basic("bob", "wrong"), peer="192.0.2.9")[0] == 401
    pid, reader = hold_in_child(app.shared.budget)
    try:
        statuses = [client.request("GET", "/ip", basic("bob", f"guess{n}"),
                                   peer="192.0.2.9")[0] for n in range(2)]
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(reader)
    assert statuses == [503, 429], "waited, refused, counted: locked out"
    assert "192.0.2.9/32 failed to log in 2 times" in caplog.text
    assert "logins refused in" in caplog.text, "refusals are logged, in summary"
    assert client.request("GET", "/ip", basic("bob", "builder"), peer="192.0.2.10")[0] == 200


def test_the_app_answers_503_with_retry_after_and_no_failed_login(tmp_path, caplog):
    app = make_app(tmp_path, users=f"bob = {hash_password('builder')}\n")
    client = Client(app)
    pid, reader = hold_in_child(app.shared.budget)
    try:
        status, headers, _ = client.request("GET", "/ip", basic("bob", "wrong"))
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(reader)
    assert (status, headers["Retry-After"]) == (503, "1")
    assert not any(getattr(r, "CHIPMUNK_EVENT", "") == "auth-failed" for r in caplog.records)
    assert client.request("GET", "/ip", basic("bob", "builder"))[0] == 200
