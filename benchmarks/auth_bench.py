"""What a login costs, as ratios to one wrong password in the same run.

The tests check that an unknown user and a wrong plain-text password cost
one hash derivation, like a wrong hashed password, and that a cached login
costs none (they count derivations).  This measures the time, which only
means something as a ratio on the same machine in the same run: an attacker
must not tell an unknown user from a known one by the answer's delay.
"""
from __future__ import annotations

import base64
import statistics
import time

from chipmunk.server.auth import Authenticator
from chipmunk.server.passwords import UserCredential, hash_password, parse_hash

ROUNDS = 15  # bounded: about 15 x 4 x 0.1 s


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def median_seconds(check, header: str) -> float:
    timings = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        check(header)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main() -> int:
    authenticator = Authenticator({
        "alice": UserCredential(None, b"plain-pw"),
        "bob": UserCredential(parse_hash(hash_password("hashed-pw")), None)})
    authenticator.check(basic("bob", "hashed-pw"))  # cached from now on
    wrong_hashed = median_seconds(authenticator.check, basic("bob", "wrong"))
    rows = {"unknown user": basic("nobody", "pw"),
            "wrong plain-text password": basic("alice", "wrong"),
            "right password, cached": basic("bob", "hashed-pw")}
    print(f"\n== login cost, median of {ROUNDS}, as a ratio to a wrong hashed password "
          f"({wrong_hashed * 1000:.1f} ms here)")
    for name, header in rows.items():
        ratio = median_seconds(authenticator.check, header) / wrong_hashed
        print(f"{name}: {ratio:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
