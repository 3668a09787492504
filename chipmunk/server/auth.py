"""HTTP Basic authentication against the users of the config.

A hash verify costs tens of milliseconds by design, so successful
verifications are remembered.  The cache key is an HMAC, under a key that
lives only in this process, of the supplied username and password: the cache
never holds a plaintext password, and a dump of it is useless elsewhere.  The
cache is bounded and belongs to one Authenticator, which is replaced (and so
emptied) on every reload.

Failures are never cached and always cost one hash verification, whether
the user is unknown, has a plain-text password or a hashed one, so timing
does not tell an attacker which usernames exist.
"""
from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping

from .budget import HashBudget, HashBudgetExhausted
from .passwords import DUMMY_HASH, PasswordHash
from .settings import UserCredential

CACHE_SIZE = 1024


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

    A success is cached under an HMAC of the credentials (the cache never
    holds a password), so only the first login and every failure cost a
    hash.  Two more rules keep that cost bounded:

    - a reload keeps the cache entries of users whose credential did not
      change (``previous``): emptying it made every thread re-hash at once;
    - one credential is verified at most once at a time: concurrent checks
      of the same username and password wait for the first one's result.
    """

    def __init__(self, users: Mapping[str, UserCredential],
                 cache_size: int = CACHE_SIZE, dummy: PasswordHash = DUMMY_HASH,
                 previous: Authenticator | None = None,
                 budget: HashBudget | None = None) -> None:
        """``dummy`` is hashed for an unknown user, at a wrong password's cost;
        every hash takes a slot of ``budget`` (none: no limit)."""
        self._users = dict(users)
        self._dummy = dummy
        self._budget = budget
        self._cache: OrderedDict[bytes, str] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        #: digest -> the verification under way: its event and, once set, result
        self._verifying: dict[bytes, _Verification] = {}
        if previous is None:
            self._cache_key = os.urandom(32)
        else:
            self._cache_key = previous._cache_key
            with previous._lock:
                self._cache.update((digest, user) for digest, user in previous._cache.items()
                                   if user in self._users
                                   and self._users[user] == previous._users.get(user))

    def _digest(self, username: str, password: bytes) -> bytes:
        message = username.encode("utf-8") + b"\0" + password
        return hmac.new(self._cache_key, message, hashlib.sha256).digest()

    def check(self, header: str | None) -> str | None:
        """The authenticated username, or None.  Only failures are slow.

        Raises HashBudgetExhausted when the login would need a hash and the
        budget has no slot free (nothing was hashed).
        """
        credentials = parse_basic(header)
        if credentials is None:
            return None
        username, password = credentials
        digest = self._digest(username, password)
        with self._lock:
            if digest in self._cache:
                self._cache.move_to_end(digest)
                return self._cache[digest]
            under_way = self._verifying.get(digest)
            if under_way is None:
                mine = self._verifying[digest] = _Verification()
            else:
                under_way.waiters += 1
        if under_way is not None:
            under_way.done.wait()
            if under_way.refused:
                raise HashBudgetExhausted("the same login was refused a slot")
            return username if under_way.accepted else None
        try:
            mine.accepted = self._verify(username, password)
        except HashBudgetExhausted:
            mine.refused = True
            raise
        finally:
            with self._lock:
                if mine.accepted:
                    self._cache[digest] = username
                    while len(self._cache) > self._cache_size:
                        self._cache.popitem(last=False)
                del self._verifying[digest]
            mine.done.set()
        return username if mine.accepted else None

    def _verify(self, username: str, password: bytes) -> bool:
        credential = self._users.get(username)
        if credential is not None and credential.plain is not None and password and \
                hmac.compare_digest(credential.plain, password):
            return True  # no hash: no slot
        with self._budget.slot() if self._budget else contextlib.nullcontext():
            if credential is not None and credential.hashed is not None:
                return credential.hashed.verify(password)
            self._dummy.verify(password)  # same cost as a wrong password
            return False


class _Verification:
    """One hash being derived; others checking the same credential wait for it."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.accepted = False
        #: no hashing slot was free: the waiters are refused too
        self.refused = False
        #: checks of the same credential that wait instead of hashing
        self.waiters = 0
