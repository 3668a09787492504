"""Lock out client addresses that fail to log in too often.

After ``limit`` failures within ``window`` seconds an address is locked out
for ``lockout`` seconds: every request from it gets 429 with Retry-After,
even with good credentials (otherwise the guessing would simply go on).
The table is bounded; the clock is injectable so tests need not sleep.
"""
from __future__ import annotations

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
                 clock: Callable[[], float] = time.monotonic,
                 max_tracked: int = MAX_TRACKED) -> None:
        self.limit, self.window, self.lockout = limit, window, lockout
        self._clock = clock
        self._max_tracked = max_tracked
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> int:
        """Seconds left in this address's lockout, 0 when it may try."""
        with self._lock:
            record = self._records.get(address)
            if record is None:
                return 0
            remaining = record.locked_until - self._clock()
        return int(remaining) + 1 if remaining > 0 else 0

    def record_failure(self, address: str) -> bool:
        """Count a failure; True when this one starts a lockout episode."""
        now = self._clock()
        with self._lock:
            record = self._records.get(address)
            if record is None:
                if len(self._records) >= self._max_tracked:
                    self._prune(now)
                record = self._records[address] = _Record()
            if record.locked_until > now:
                return False
            record.failures = [t for t in record.failures if now - t < self.window]
            record.failures.append(now)
            if len(record.failures) >= self.limit:
                record.failures.clear()
                record.locked_until = now + self.lockout
                return True
            return False

    def _prune(self, now: float) -> None:
        """Forget addresses with nothing current; if still full, the oldest."""
        stale = [address for address, record in self._records.items()
                 if record.locked_until <= now and
                 all(now - t >= self.window for t in record.failures)]
        for address in stale:
            del self._records[address]
        while len(self._records) >= self._max_tracked:
            del self._records[next(iter(self._records))]
