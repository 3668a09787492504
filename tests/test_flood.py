"""A flood of wrong passwords from 200 addresses against a real server (2 workers).

Before: 0 of 9 fresh logins got through, no flooding address was ever
locked out (refusals were not counted), and a user who had logged in got
503 on half their new connections (the login cache was per worker).
In a flood's first moment its 200 networks each send a first request, as
clean as a new user's, and a login then competes with them as an equal:
the fresh logins are measured once that burst is over (half the flooding
networks locked out); ``make bench`` reports the whole flood.
Bounded: the flood stops when the checks are done, at 40 s at the latest.
"""
from __future__ import annotations

from chipmunk.server.passwords import hash_password
from flood import Flood, flooding_sources, timed_login
from helpers import basic, server_config, wait_until

FRESH = 10


def test_fresh_logins_pass_and_every_flooding_network_is_locked_out(tmp_path, start_server):
    users = "".join(f"user{n} = {hash_password(f'pw{n}')}\n" for n in range(FRESH))
    users += f"alice = {hash_password('wonderland')}\nbob = {hash_password('builder')}\n"
    server = start_server(server_config(tmp_path, users=users, listen="127.0.0.1:0",
                                        server="workers = 2\nthreads = 4\n"))
    host, port = server.addresses[0]
    assert timed_login(host, port, "127.0.3.2", "alice", "wonderland")[0] == 200  # cached now
    sources = flooding_sources(200)
    with Flood(host, port, sources, "bob", threads=48, limit=40) as flood:
        wait_until(lambda: len(flood.result.locked_after) >= len(sources) // 2,
                   "the flood's first burst to be over", timeout=20)
        fresh = [timed_login(host, port, "127.0.3.1", f"user{n}", f"pw{n}")
                 for n in range(FRESH)]
        cached = [timed_login(host, port, f"127.0.3.{2 + n % 2}", "alice", "wonderland")[0]
                  for n in range(20)]
        wait_until(lambda: len(flood.result.locked_after) == len(sources),
                   "every flooding network to be locked out", timeout=30)
    quick = [status for status, seconds in fresh if status == 200 and seconds <= 2.0]
    assert len(quick) >= 0.9 * FRESH, fresh
    assert cached == [200] * 20, "a user who logged in once is never refused"
    assert max(flood.result.locked_after.values()) < 20, flood.result.locked_after
    assert flood.result.statuses[429] > flood.result.sent / 2, "the flood goes on, refused"
    log = server.stderr()
    assert log.count("locked out for 300s") == len(sources), "one line per lockout"
    assert "logins refused in" in log
    assert server.request("GET", "/ip", {"Authorization": basic("alice", "wonderland")})[0] \
        == 200
