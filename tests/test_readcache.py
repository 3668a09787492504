"""What a worker read of the state files is kept only until any worker
writes one: two ReadCaches sharing one WriteToken are two workers after the
supervisor forked them (each its own entries, one shared token)."""
from __future__ import annotations

from chipmunk.server.addressbook import AddressBook
from chipmunk.server.hostnames import KnownState
from chipmunk.server.readcache import ReadCache, Replays, WriteToken


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def two_workers(clock: Clock | None = None) -> tuple[ReadCache, ReadCache]:
    token = WriteToken()
    clock = clock or Clock()
    return ReadCache(token, max_age=3600, clock=clock), ReadCache(token, max_age=3600,
                                                                    clock=clock)


def test_a_worker_sees_the_known_state_another_worker_wrote(tmp_path):
    first, second = two_workers()
    mine, theirs = KnownState(tmp_path, first), KnownState(tmp_path, second)
    theirs.confirm("rfc2136@1", "home.example.org", "A", "192.0.2.1", 1.0)
    assert mine.read("home.example.org")[("rfc2136@1", "A")].address == "192.0.2.1"
    theirs.confirm("rfc2136@1", "home.example.org", "A", "192.0.2.2", 2.0)
    assert mine.read("home.example.org")[("rfc2136@1", "A")].address == "192.0.2.2"
    theirs.forget("rfc2136@1", "home.example.org", "A")
    assert mine.read("home.example.org") == {}


def test_a_worker_sees_the_address_another_worker_saved(tmp_path):
    first, second = two_workers()
    mine, theirs = AddressBook(tmp_path, first), AddressBook(tmp_path, second)
    assert mine.store("alice", "192.0.2.1") is True
    assert theirs.store("alice", "192.0.2.1") is False
    assert theirs.store("alice", "192.0.2.2") is True
    assert mine.store("alice", "192.0.2.2") is False, "not answered from what it read"
    assert mine.store("alice", "192.0.2.1") is True
    assert (tmp_path / "alice.cm").read_text() == "192.0.2.1\n"


def test_repeated_reads_are_answered_from_memory_until_max_age(tmp_path):
    clock = Clock()
    reads = ReadCache(WriteToken(), max_age=1.0, clock=clock)
    calls = []

    def read(path: str) -> str:
        calls.append(path)
        return "value"

    for _ in range(3):
        assert reads.get("/x", read) == "value"
    assert len(calls) == 1
    clock.now += 1.5  # a file changed by hand is read again
    reads.get("/x", read)
    assert len(calls) == 2


def test_replays_keep_router_sized_queries_only():
    clock = Clock()
    replays = Replays(WriteToken(), clock)
    token = replays.token.current()
    short = ("alice", "192.0.2.1", "hostname=home.example.org&myip=192.0.2.1")
    junk = ("alice", "192.0.2.1", short[2] + "&x=" + "y" * Replays.MAX_QUERY)
    for key in (short, junk):
        replays.keep(key, token, ["nochg 192.0.2.1"], clock.now + 60)
    assert replays.get(short) == ["nochg 192.0.2.1"]
    assert replays.get(junk) is None, "junk parameters do not fill memory"
    clock.now += Replays.MAX_AGE
    assert replays.get(short) is None
