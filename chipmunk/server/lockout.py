"""Lock out client networks that fail to log in too often.

After ``limit`` failures within ``window`` seconds a client is locked out
for ``lockout`` seconds: every request from it gets 429 with Retry-After,
even with good credentials (otherwise the guessing would simply go on).

A client is a network, not an address: one IPv6 host usually holds a whole
/64 and could rotate through it, so failures are counted per ``/64`` by
default (``ipv6_prefix``), and per single IPv4 address (``ipv4_prefix``).

The table is bounded, and an active lockout is never evicted to make room:
otherwise a flood of cheap failures from fresh addresses would let a
locked-out network back in.  When every entry is an active lockout, a new
failing network is locked out at its first failure -- conservative, and
logged, because it means the server is under a wide attack.  The clock is
injectable so tests need not sleep.
"""
from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_TRACKED = 10_000


@dataclass
class _Record:
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0


class LoginLockout:
    def __init__(self, limit: int, window: float, lockout: float,
                 ipv4_prefix: int = 32, ipv6_prefix: int = 64,
                 clock: Callable[[], float] = time.monotonic,
                 max_tracked: int = MAX_TRACKED) -> None:
        self.limit, self.window, self.lockout = limit, window, lockout
        self.prefixes = {4: ipv4_prefix, 6: ipv6_prefix}
        self._clock = clock
        self._max_tracked = max_tracked
        self._records: dict[tuple[int, int], _Record] = {}
        self._lock = threading.Lock()
        #: lockouts that began at the first failure because the table was full
        self.overflow_lockouts = 0

    @property
    def settings(self) -> tuple:
        """What a reload must keep equal for the table to stay valid."""
        return (self.limit, self.window, self.lockout, self.prefixes[4], self.prefixes[6])

    def network(self, address: str) -> str:
        """The network ``address`` is counted in, e.g. ``2001:db8::/64``."""
        parsed = ipaddress.ip_address(address)
        prefix = self.prefixes[parsed.version]
        return str(ipaddress.ip_network(f"{parsed}/{prefix}", strict=False))

    def _key(self, address: str) -> tuple[int, int]:
        """(version, network number): what is counted, without building a string.

        Every request asks for its address's lockout; this costs a parse
        and a shift, a fraction of :meth:`network`.
        """
        parsed = ipaddress.ip_address(address)
        return parsed.version, int(parsed) >> (parsed.max_prefixlen
                                               - self.prefixes[parsed.version])

    def retry_after(self, address: str) -> int:
        """Seconds left in this address's lockout, 0 when it may try."""
        if not self._records:  # the usual case: nobody failed lately
            return 0
        with self._lock:
            record = self._records.get(self._key(address))
            if record is None:
                return 0
            remaining = record.locked_until - self._clock()
        return int(remaining) + 1 if remaining > 0 else 0

    def locked_out(self) -> int:
        """How many networks are locked out now (for the metrics)."""
        now = self._clock()
        with self._lock:
            return sum(1 for record in self._records.values() if record.locked_until > now)

    def record_failure(self, address: str) -> bool:
        """Count a failure; True when this one starts a lockout episode."""
        now = self._clock()
        key = self._key(address)
        with self._lock:
            record = self._records.get(key)
            if record is None:
                if len(self._records) >= self._max_tracked and not self._make_room(now):
                    self.overflow_lockouts += 1
                    self._records[key] = _Record(locked_until=now + self.lockout)
                    return True
                record = self._records[key] = _Record()
            if record.locked_until > now:
                return False
            record.failures = [t for t in record.failures if now - t < self.window]
            record.failures.append(now)
            if len(record.failures) >= self.limit:
                record.failures.clear()
                record.locked_until = now + self.lockout
                return True
            return False

    def _make_room(self, now: float) -> bool:
        """Forget what is over, then the oldest unlocked entry; never a lockout.

        False when every entry is an active lockout.
        """
        stale = [key for key, record in self._records.items()
                 if record.locked_until <= now and
                 all(now - t >= self.window for t in record.failures)]
        for key in stale:
            del self._records[key]
        if len(self._records) < self._max_tracked:
            return True
        unlocked = next((key for key, record in self._records.items()
                         if record.locked_until <= now), None)
        if unlocked is None:
            return False
        del self._records[unlocked]
        return True
