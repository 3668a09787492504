"""Successful logins, remembered for every worker process at once.

A hash verify costs tens of milliseconds by design, so a success is
remembered and the next login with the same credentials costs none.  Kept
per process, the cache let a user who had logged in get 503 on half their
new connections under a flood (the kernel sends each connection to either
worker, and only one had seen them).  So the cache is one table in shared
memory, made before the workers fork.

It holds no password and no user name: each entry is an HMAC-SHA256, under
a key made at start that never leaves the server's memory, of the user
name, a fingerprint of the user's configured credential (the hash's salt
and digest) and the password supplied.  A dump of it is useless elsewhere;
a changed or removed credential simply never matches again, so a reload
needs no cleaning.

Written here because nothing in Debian offers a bounded table in shared
memory.  It is a fixed array of buckets of ``WAYS`` digests, picked by the
digest's own (keyed, so unpredictable) bits; a full bucket overwrites one
way, chosen by the digest too.  Reads take no lock: a digest is written in
one 32-byte copy, and one torn by a concurrent write matches nothing, which
costs one more hash, never a wrong login.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import weakref

from .sharedmemory import shared_memory

DIGEST_SIZE = 32
WAYS = 8
#: logins remembered at once (256 KiB of shared memory)
CAPACITY = 8192
_EMPTY = bytes(DIGEST_SIZE)


class LoginCache:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self.buckets = max(capacity // WAYS, 1)
        self.capacity = self.buckets * WAYS
        self._fd, self._memory = shared_memory("chipmunk-logins",
                                               self.capacity * DIGEST_SIZE)
        weakref.finalize(self, os.close, self._fd)
        self._key = os.urandom(32)

    def digest(self, username: str, fingerprint: bytes, password: bytes) -> bytes:
        """The entry for these credentials (length-prefixed: no ambiguity)."""
        message = b"".join(len(part).to_bytes(4, "big") + part
                           for part in (username.encode("utf-8"), fingerprint, password))
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def _bucket(self, digest: bytes) -> int:
        """Where the bucket of ``digest`` starts in the table."""
        return int.from_bytes(digest[:8], "little") % self.buckets * WAYS * DIGEST_SIZE

    def __contains__(self, digest: bytes) -> bool:
        start = self._bucket(digest)
        bucket = self._memory[start:start + WAYS * DIGEST_SIZE]
        return any(bucket[way * DIGEST_SIZE:(way + 1) * DIGEST_SIZE] == digest
                   for way in range(WAYS))

    def add(self, digest: bytes) -> None:
        start = self._bucket(digest)
        bucket = self._memory[start:start + WAYS * DIGEST_SIZE]
        ways = [bucket[way * DIGEST_SIZE:(way + 1) * DIGEST_SIZE] for way in range(WAYS)]
        if digest in ways:
            return
        way = ways.index(_EMPTY) if _EMPTY in ways else digest[8] % WAYS
        offset = start + way * DIGEST_SIZE
        self._memory[offset:offset + DIGEST_SIZE] = digest

    def __len__(self) -> int:
        """Entries held (for tests and the metrics)."""
        return sum(1 for index in range(self.capacity)
                   if self._memory[index * DIGEST_SIZE:(index + 1) * DIGEST_SIZE] != _EMPTY)
