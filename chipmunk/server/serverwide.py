"""What every worker process shares, made before they fork.

A worker process serves a share of the connections, but some limits hold for
the whole server: the password-hashing budget, the failed-login counts and
lockouts, the logins already verified, and the token that tells every
worker a state file was written.  They live in kernel objects
(memfds) the supervisor makes before forking, so a respawned worker finds
them as they were.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .budget import HashBudget
from .lockout import LockoutTable
from .logincache import LoginCache
from .readcache import ReadCache, WriteToken


@dataclass
class ServerWide:
    budget: HashBudget
    lockouts: LockoutTable = field(default_factory=LockoutTable)
    logins: LoginCache = field(default_factory=LoginCache)
    #: the small state files each worker read, until any worker writes one
    reads: ReadCache = field(default_factory=lambda: ReadCache(WriteToken()))

    @classmethod
    def for_slots(cls, max_parallel_hashes: int) -> ServerWide:
        return cls(HashBudget(max_parallel_hashes))
