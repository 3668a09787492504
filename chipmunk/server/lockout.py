"""Lock out client networks that fail to log in too often, server-wide.

After ``limit`` failures within ``window`` seconds a client is locked out
for ``lockout`` seconds: every request from it gets 429 with Retry-After,
even with good credentials (otherwise the guessing would simply go on).

A client is a network, not an address: one IPv6 host usually holds a whole
/64 and could rotate through it, so failures are counted per ``/64`` by
default (``ipv6_prefix``), and per single IPv4 address (``ipv4_prefix``).

One count holds for every worker process: the counts live in a
:class:`LockoutTable`, shared memory made before the workers fork, so the
kernel may spread one client's connections over all workers (before, a
client got ``limit`` tries per worker, or had to be pinned to one worker,
and behind a proxy every worker counted apart).  Written here because
nothing in Debian offers a bounded table in shared memory: it is a fixed
array of slots, grouped in buckets of ``WAYS`` picked by a keyed hash (an
attacker cannot aim many networks at one bucket), guarded by a thread lock
and an ``flock`` of the process's own file description (the kernel drops
it if a worker dies holding it).  A window is counted in ``SLICES``
slices, so a failure is forgotten between ``window`` and ``window``
+ 1/16 of it after it -- never earlier.

The table is bounded, and an active lockout is never evicted to make room:
otherwise a flood of cheap failures from fresh networks would let a
locked-out network back in.  A new network takes an empty or forgotten
slot of its bucket, else the one of a network not locked out whose last
failure is oldest.  When every slot of the bucket is an active lockout the
server is under a wide attack (someone locked out thousands of networks,
e.g. the /64s of one IPv6 site): the failure is then counted for the
enclosing site instead (an IPv6 /48, an IPv4 /24), so that attacker is
locked out as one, while nobody who did not fail is refused.  Only a
failure that finds no room for either is not counted (logged); the hashing
budget still bounds how fast anyone can guess.  The clock is injectable so
tests need not sleep; ``time.monotonic`` is one clock for every process.
"""
from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import os
import struct
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .sharedmemory import own_description, shared_memory

#: networks the table can hold at once (about 5 MiB of shared memory, only
#: the pages touched are allocated)
CAPACITY = 65_536
WAYS = 16
#: a window is counted in this many slices, plus the one in progress
SLICES = 16
_COUNTS = SLICES + 1
_MAX_COUNT = 0xFFFF

# A slot: family (0 = empty, 4, 6; 104, 106 for a wider network), network
# number, locked until, the slice width its counts were made with, the
# newest slice's number, the counts.
_SLOT = struct.Struct(f"<B16sddq{_COUNTS}H")
_SLOT_SIZE = 80
_KEY = struct.Struct("<B16s")
# The header: slots in use; and a horizon -- no slot holds a lockout or a
# counted failure after it, so past it every lookup is "not locked out"
# without looking (the usual case: nobody failed lately).
_HEADER = struct.Struct("<qd")
_HEADER_SIZE = 64


@dataclass
class _Slot:
    family: int
    network: bytes
    locked_until: float
    width: float
    newest: int
    counts: list[int]

    def forgotten(self, now: float, newest: int) -> bool:
        """Not locked out, and no failure left in the window."""
        return (self.locked_until <= now
                and (newest - self.newest >= _COUNTS or not any(self.counts)))


def _empty_slot() -> _Slot:
    return _Slot(0, bytes(16), 0.0, 0.0, 0, [0] * _COUNTS)


class LockoutTable:
    """Slots in shared memory for every worker process; made before they fork."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.ways = min(WAYS, max(capacity, 1))
        self.buckets = max(capacity // self.ways, 1)
        self.capacity = self.ways * self.buckets
        size = _HEADER_SIZE + self.capacity * _SLOT_SIZE
        self._fd, self._memory = shared_memory("chipmunk-lockouts", size)
        #: descriptors to close when the table goes (the memfd, this process's own)
        self._fds = [self._fd]
        weakref.finalize(self, _close_all, self._fds)
        self._secret = os.urandom(16)
        # one unpack reads a bucket's keys, or its lockout ends
        skip = _SLOT_SIZE - _KEY.size
        self._bucket_keys = struct.Struct("<" + f"{_KEY.size}s{skip}x" * self.ways)
        self._bucket_ends = struct.Struct(
            "<" + f"{_KEY.size}xd{skip - 8}x" * self.ways)
        self._thread_lock = threading.Lock()
        self._owner = -1
        self._own_fd = -1

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive across threads and processes."""
        with self._thread_lock:
            fd = self._own_description()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _own_description(self) -> int:
        """This process's own open file description of the table (a flock
        belongs to a description, and a forked child shares its parent's)."""
        if self._owner != os.getpid():
            self._own_fd = own_description(self._fd)
            self._fds.append(self._own_fd)
            self._owner = os.getpid()
        return self._own_fd

    def quiet(self, now: float) -> bool:
        """No lockout and no counted failure anywhere (read without the lock)."""
        return _HEADER.unpack_from(self._memory, 0)[1] <= now

    def extend_horizon(self, until: float) -> None:
        used, horizon = _HEADER.unpack_from(self._memory, 0)
        if until > horizon:
            _HEADER.pack_into(self._memory, 0, used, until)

    def used(self) -> int:
        return _HEADER.unpack_from(self._memory, 0)[0]

    def bucket_of(self, key: bytes) -> int:
        digest = hashlib.blake2b(key, key=self._secret, digest_size=8).digest()
        return int.from_bytes(digest, "little") % self.buckets

    def slots(self, bucket: int) -> range:
        return range(bucket * self.ways, (bucket + 1) * self.ways)

    def keys(self, bucket: int) -> tuple[bytes, ...]:
        return self._bucket_keys.unpack_from(self._memory, self._offset(bucket * self.ways))

    def ends(self, bucket: int) -> tuple[float, ...]:
        """When each slot's lockout ends (0: none)."""
        return self._bucket_ends.unpack_from(self._memory, self._offset(bucket * self.ways))

    def read(self, index: int) -> _Slot:
        family, network, locked_until, width, newest, *counts = _SLOT.unpack_from(
            self._memory, self._offset(index))
        return _Slot(family, network, locked_until, width, newest, counts)

    def write(self, index: int, slot: _Slot) -> None:
        offset = self._offset(index)
        change = int(slot.family != 0) - int(self._memory[offset] != 0)
        _SLOT.pack_into(self._memory, offset, slot.family, slot.network, slot.locked_until,
                        slot.width, slot.newest, *slot.counts)
        if change:
            used, horizon = _HEADER.unpack_from(self._memory, 0)
            _HEADER.pack_into(self._memory, 0, used + change, horizon)

    @staticmethod
    def _offset(index: int) -> int:
        return _HEADER_SIZE + index * _SLOT_SIZE


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


#: where a network's failures are counted when its own bucket is full of
#: active lockouts: the enclosing site (an IPv6 /48, an IPv4 /24)
WIDER_PREFIXES = {4: 24, 6: 48}
#: the family byte of a wider network's key (apart from the networks' own)
_WIDER = 100


class LoginLockout:
    """The lockout rules (from the settings) over a :class:`LockoutTable`.

    A reload builds a new one over the same table: failures and lockouts
    survive it; a changed window restarts the counts, not the lockouts.
    """

    def __init__(self, limit: int, window: float, lockout: float,
                 ipv4_prefix: int = 32, ipv6_prefix: int = 64,
                 clock: Callable[[], float] = time.monotonic,
                 table: LockoutTable | None = None) -> None:
        self.limit, self.window, self.lockout = limit, window, lockout
        self.prefixes = {4: ipv4_prefix, 6: ipv6_prefix}
        self.wider_prefixes = {version: min(prefix, self.prefixes[version])
                               for version, prefix in WIDER_PREFIXES.items()}
        self._clock = clock
        self.table = table if table is not None else LockoutTable()
        self._width = window / SLICES
        #: failures that found no slot, not even for the wider network
        self.uncounted = 0

    def network(self, address: str, wider: bool = False) -> str:
        """The network ``address`` is counted in, e.g. ``2001:db8::/64``
        (``wider``: the one it is counted in when its own has no room)."""
        parsed = ipaddress.ip_address(address)
        prefix = (self.wider_prefixes if wider else self.prefixes)[parsed.version]
        return str(ipaddress.ip_network(f"{parsed}/{prefix}", strict=False))

    def _keys(self, address: str) -> tuple[bytes, bytes | None]:
        """The keys of the network and of the wider one (None: the same),
        without building strings."""
        parsed = ipaddress.ip_address(address)
        version, bits = parsed.version, parsed.max_prefixlen
        number = int(parsed)
        own = _KEY.pack(version, (number >> (bits - self.prefixes[version])).to_bytes(16, "big"))
        wider_prefix = self.wider_prefixes[version]
        if wider_prefix == self.prefixes[version]:
            return own, None
        return own, _KEY.pack(version + _WIDER,
                              (number >> (bits - wider_prefix)).to_bytes(16, "big"))

    def retry_after(self, address: str) -> int:
        """Seconds left in this address's lockout (its network's or, under a
        wide attack, the wider network's), 0 when it may try."""
        now = self._clock()
        table = self.table
        if table.quiet(now):  # the usual case: nobody failed lately
            return 0
        keys = [key for key in self._keys(address) if key is not None]
        with table.locked():
            ends = [self._end(key) for key in keys]
        remaining = max(ends) - now
        return int(remaining) + 1 if remaining > 0 else 0

    def _end(self, key: bytes) -> float:
        """When ``key``'s lockout ends (0: none).  Holding the lock."""
        bucket = self.table.bucket_of(key)
        keys = self.table.keys(bucket)
        return self.table.ends(bucket)[keys.index(key)] if key in keys else 0.0

    def failures(self, address: str) -> int:
        """Failures counted for ``address``'s network in the window (``limit``
        while it is locked out): its place in the queue for a hashing slot."""
        now = self._clock()
        table = self.table
        if table.quiet(now):
            return 0
        own = self._keys(address)[0]
        newest = int(now // self._width)
        with table.locked():
            for index in table.slots(table.bucket_of(own)):
                slot = table.read(index)
                if slot.family and _KEY.pack(slot.family, slot.network) == own:
                    if slot.locked_until > now:
                        return self.limit
                    if slot.width != self._width:
                        return 0
                    shift = min(max(newest - slot.newest, 0), _COUNTS)
                    return sum(slot.counts[shift:])
        return 0

    def locked_out(self) -> int:
        """How many networks are locked out now (for the metrics; a bucket at a
        time, without the lock: a gauge may be off by a slot being written)."""
        now = self._clock()
        table = self.table
        if table.quiet(now):
            return 0
        return sum(1 for bucket in range(table.buckets)
                   for end in table.ends(bucket) if end > now)

    def tracked(self) -> int:
        """Slots in use (networks that failed lately, or are locked out)."""
        return self.table.used()

    def record_failure(self, address: str) -> str | None:
        """Count a failure; the network locked out when this one starts a
        lockout episode (the wider network's, when it was counted there)."""
        own, wider = self._keys(address)
        with self.table.locked():
            for key in (own, wider):
                if key is None:
                    break
                counted = self._count(key)
                if counted is not None:
                    return self.network(address, wider=key is wider) if counted else None
        self.uncounted += 1
        return None

    def _count(self, key: bytes) -> bool | None:
        """Count a failure for ``key``: True when it starts a lockout, None when
        its bucket has no room (every slot an active lockout).  Holding the lock."""
        now = self._clock()
        newest = int(now // self._width)
        table = self.table
        slots = {index: table.read(index) for index in table.slots(table.bucket_of(key))}
        index = next((index for index, slot in slots.items() if slot.family
                      and _KEY.pack(slot.family, slot.network) == key), None)
        if index is None:
            index = self._room(slots, now, newest)
            if index is None:
                return None
            slot = _empty_slot()
            slot.family, slot.network = _KEY.unpack(key)
        else:
            slot = slots[index]
        if slot.locked_until > now:
            return False
        self._age(slot, newest)
        slot.counts[-1] = min(slot.counts[-1] + 1, _MAX_COUNT)
        started = sum(slot.counts) >= self.limit
        if started:
            slot.counts = [0] * _COUNTS
            slot.locked_until = now + self.lockout
        table.write(index, slot)
        table.extend_horizon(max(slot.locked_until, now + self.window + self._width))
        return started

    def _age(self, slot: _Slot, newest: int) -> None:
        """Shift the counts so that the last one is the slice ``newest``."""
        if slot.width != self._width:  # new, or the window changed on reload
            slot.width, slot.newest, slot.counts = self._width, newest, [0] * _COUNTS
            return
        shift = min(max(newest - slot.newest, 0), _COUNTS)
        slot.counts = slot.counts[shift:] + [0] * shift
        slot.newest = max(newest, slot.newest)

    def _room(self, slots: dict[int, _Slot], now: float, newest: int) -> int | None:
        """An empty or forgotten slot, else the one not locked out whose last
        failure is oldest; never an active lockout (None when all are)."""
        for index, slot in slots.items():
            if not slot.family or slot.forgotten(now, newest):
                return index
        unlocked = [(slot.newest, index) for index, slot in slots.items()
                    if slot.locked_until <= now]
        return min(unlocked)[1] if unlocked else None
