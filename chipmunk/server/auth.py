"""HTTP Basic authentication against the users of the config.

A hash verify costs tens of milliseconds by design, so successful
verifications are remembered, for every worker at once
(:mod:`.logincache`).  Failures are never remembered and always cost one
hash verification, whether the user is unknown, has a plain-text password
or a hashed one, so timing does not tell an attacker which usernames exist.

Every hash takes a slot of the server-wide budget (:mod:`.budget`): a login
from a network without counted failures may wait a moment for one; any
other is refused at once when none is free (HashBudgetExhausted), and the
caller counts that refusal against the network like a failure.
"""
from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hmac
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from .budget import PATIENCE, HashBudget, HashBudgetExhausted, WaitingRoom
from .logincache import LoginCache
from .passwords import DUMMY_HASH, PasswordHash, UserCredential

#: how long a check of a credential under verification waits for that one
#: to reach its slot (it was registered a moment before; past this, it is
#: queued for a slot, and the second is refused)
STARTING = 0.05


@dataclass(frozen=True)
class Verdict:
    """What a check of an Authorization header came to."""

    #: the authenticated user, or None
    user: str | None
    #: the user name supplied (None: no usable Basic credentials at all)
    supplied: str | None = None


def basic_header(username: str, password: str) -> str:
    """The Basic Authorization header for these credentials (acme-dns sends
    them as X-Api-User and X-Api-Key)."""
    pair = f"{username}:{password}".encode("utf-8", "surrogateescape")
    return "Basic " + base64.b64encode(pair).decode("ascii")


def parse_basic(header: str | None) -> tuple[str, bytes] | None:
    """(username, password) from an Authorization header, or None if unusable."""
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    username, colon, password = decoded.partition(b":")
    if not colon:
        return None
    try:
        return username.decode("utf-8"), password
    except UnicodeDecodeError:
        return None


class Authenticator:
    """Checks credentials; thread-safe; one instance per loaded config.

    One credential is verified at most once at a time: concurrent checks of
    the same username and password wait for the first one's result.
    """

    def __init__(self, users: Mapping[str, UserCredential],
                 dummy: PasswordHash = DUMMY_HASH, budget: HashBudget | None = None,
                 cache: LoginCache | None = None, waiting: int = 2) -> None:
        """``dummy`` is hashed for an unknown user, at a wrong password's cost;
        every hash takes a slot of ``budget`` (none: no limit); ``cache``:
        the server-wide successes (none: one of its own); ``waiting``: how
        many checks of this process may wait for a slot at once."""
        self._users = dict(users)
        self._dummy = dummy
        self._budget = budget
        self._cache = cache if cache is not None else LoginCache(1024)
        self._room = WaitingRoom(waiting)
        self._lock = threading.Lock()
        #: digest -> the verification under way: its event and, once set, result
        self._verifying: dict[bytes, _Verification] = {}

    def check(self, header: str | None,
              place: Callable[[], tuple[str, int]] = lambda: ("", 0)) -> Verdict:
        """Whose credentials ``header`` holds.  Only failures are slow.

        Raises HashBudgetExhausted when the login needs a hash and gets no
        slot (nothing was hashed).  ``place()``, asked only when a hash is
        needed: the client's network, as the lockout counts it, and the
        failures counted for it -- its place in the queue for a slot.
        """
        credentials = parse_basic(header)
        if credentials is None:
            return Verdict(None)
        username, password = credentials
        credential = self._users.get(username)
        if credential is not None and credential.plain is not None:
            if password and hmac.compare_digest(credential.plain, password):
                return Verdict(username, username)  # no hash: no slot, no cache
            fingerprint = b""
        else:
            fingerprint = credential.fingerprint if credential is not None else b""
        digest = self._cache.digest(username, fingerprint, password)
        if credential is not None and digest in self._cache:
            return Verdict(username, username)
        with self._lock:
            under_way = self._verifying.get(digest)
            if under_way is None:
                mine = self._verifying[digest] = _Verification()
            else:
                under_way.waiters += 1
        if under_way is not None:
            # Wait for a hash that runs, not for one still queued for a slot:
            # a flood repeating one credential would hold every thread, past
            # the waiting room's cap.  But the first check may just not have
            # reached the budget yet (two at once: an ACME client's name and
            # wildcard): it gets a moment for that.
            under_way.settled.wait(STARTING)
            if not under_way.hashing.is_set():
                raise HashBudgetExhausted("the same login is waiting for a slot")
            under_way.done.wait()
            if under_way.refused:
                raise HashBudgetExhausted("the same login was refused a slot")
            return Verdict(username if under_way.accepted else None, username)
        try:
            mine.accepted = self._verify(credential, password, place, mine)
        except HashBudgetExhausted:
            mine.refused = True
            raise
        finally:
            if mine.accepted:
                self._cache.add(digest)
            with self._lock:
                del self._verifying[digest]
            mine.done.set()
            mine.settled.set()
        return Verdict(username if mine.accepted else None, username)

    def failed(self, network: str) -> None:
        """A failure or refusal was counted for ``network`` (its place in the
        queue for a hashing slot)."""
        self._room.failed(network)

    def _verify(self, credential: UserCredential | None, password: bytes,
                place: Callable[[], tuple[str, int]], mine: _Verification) -> bool:
        with self._slot(place):
            mine.hashing.set()
            mine.settled.set()
            if credential is not None and credential.hashed is not None:
                return credential.hashed.verify(password)
            self._dummy.verify(password)  # same cost as a wrong password
            return False

    @contextlib.contextmanager
    def _slot(self, place: Callable[[], tuple[str, int]]) -> Iterator[None]:
        if self._budget is None:
            yield
            return
        with self._room.enter(*place()) as ticket:
            if ticket is None:
                with self._budget.slot():
                    yield
            else:
                with self._budget.slot(PATIENCE, functools.partial(self._room.turn, ticket)):
                    yield


class _Verification:
    """One hash being derived; others checking the same credential wait for it."""

    def __init__(self) -> None:
        self.done = threading.Event()
        #: set once it holds a slot: only then do others wait for it
        self.hashing = threading.Event()
        #: set once it holds a slot or is over: how long a second check looks
        self.settled = threading.Event()
        self.accepted = False
        #: no hashing slot was free: the waiters are refused too
        self.refused = False
        #: checks of the same credential that wait instead of hashing
        self.waiters = 0
