"""The hashing budget: shared by processes, freed when a holder dies, never in a
cached login's way."""
from __future__ import annotations

import os
import signal
import threading

import pytest

from chipmunk.server.auth import Authenticator
from chipmunk.server.budget import HashBudget, HashBudgetExhausted
from chipmunk.server.passwords import hash_password, parse_hash
from chipmunk.server.settings import UserCredential
from helpers import WAIT, basic
from test_app import Client, make_app
from test_auth import HeldHash


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
    assert authenticator.check(basic("carol", "carol-pw")) == "carol"  # now cached
    holder = threading.Thread(target=authenticator.check, args=(basic("bob", "wrong"),))
    holder.start()
    assert bob.entered.wait(WAIT), "bob's hash holds the only slot"
    try:
        with pytest.raises(HashBudgetExhausted):
            authenticator.check(basic("nobody", "x"))  # an unknown user costs a hash too
        assert carol.derivations == 1
        assert authenticator.check(basic("carol", "carol-pw")) == "carol", "cached: no wait"
        assert authenticator.check(basic("alice", "pw")) == "alice", "plain: no hash, no slot"
    finally:
        bob.release.set()
        holder.join(WAIT)
    assert authenticator.check(basic("nobody", "x")) is None, "a free slot again"


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
