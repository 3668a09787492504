"""Password hashes: make them, parse them, verify them in constant time.

The hash format is self-describing, in the PHC string style that passlib and
libxcrypt use, so a pasted line in ``[Users]`` carries its own algorithm,
parameters and salt:

    $scrypt$ln=15,r=8,p=1$<salt, base64>$<hash, base64>
    $pbkdf2-sha256$i=600000$<salt, base64>$<hash, base64>

Only hashlib is used (no passlib: it is unmaintained and not needed for two
algorithms).  Anything not starting with one of those prefixes is a plain-text
password, kept working for configs migrated from the original.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

SCRYPT_PREFIX = "$scrypt$"
PBKDF2_PREFIX = "$pbkdf2-sha256$"
#: scrypt with N=2**15, r=8: 32 MiB and a few tens of milliseconds per verify.
DEFAULT_SCRYPT_LOG_N = 15
DEFAULT_SCRYPT_R = 8
DEFAULT_SCRYPT_P = 1
HASH_BYTES = 32


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


@dataclass(frozen=True)
class PasswordHash:
    """A parsed hash: enough to verify a candidate password against it."""

    algorithm: str
    params: dict
    salt: bytes
    digest: bytes

    def derive(self, password: bytes) -> bytes:
        if self.algorithm == "scrypt":
            n = 1 << self.params["ln"]
            r, p = self.params["r"], self.params["p"]
            return hashlib.scrypt(password, salt=self.salt, n=n, r=r, p=p,
                                  maxmem=256 * n * r + (1 << 20), dklen=len(self.digest))
        return hashlib.pbkdf2_hmac("sha256", password, self.salt, self.params["i"],
                                   dklen=len(self.digest))

    def verify(self, password: bytes) -> bool:
        return hmac.compare_digest(self.derive(password), self.digest)

    @property
    def fingerprint(self) -> bytes:
        """Tells this hash from any other (a new password has a new salt)."""
        return self.salt + self.digest


def is_hashed(text: str) -> bool:
    return text.startswith((SCRYPT_PREFIX, PBKDF2_PREFIX))


def parse_hash(text: str) -> PasswordHash:
    """Parse a hash string; ValueError says what is wrong with it."""
    parts = text.split("$")
    if len(parts) != 5 or parts[0] != "":
        raise ValueError("malformed password hash: expected $algorithm$params$salt$hash")
    _, algorithm, param_text, salt_text, digest_text = parts
    try:
        params = dict(item.split("=", 1) for item in param_text.split(","))
        numbers = {key: int(value) for key, value in params.items()}
        salt, digest = _b64decode(salt_text), _b64decode(digest_text)
    except ValueError:
        raise ValueError("malformed password hash: bad parameters or base64") from None
    if len(salt) < 8 or len(digest) < 16:
        raise ValueError("malformed password hash: salt or hash too short")
    if algorithm == "scrypt":
        if set(numbers) != {"ln", "r", "p"} or not (1 <= numbers["ln"] <= 20) \
                or not (1 <= numbers["r"] <= 32) or not (1 <= numbers["p"] <= 16):
            raise ValueError("malformed scrypt hash: expected ln=1..20,r=1..32,p=1..16")
    elif algorithm == "pbkdf2-sha256":
        if set(numbers) != {"i"} or not (1000 <= numbers["i"] <= 10_000_000):
            raise ValueError("malformed pbkdf2-sha256 hash: expected i=1000..10000000")
    else:
        raise ValueError(f"unknown password hash algorithm {algorithm!r} "
                         "(known: scrypt, pbkdf2-sha256)")
    return PasswordHash(algorithm, numbers, salt, digest)


def hash_password(password: str, log_n: int = DEFAULT_SCRYPT_LOG_N) -> str:
    """A new scrypt hash string for ``password`` with a random salt."""
    salt = os.urandom(16)
    params = {"ln": log_n, "r": DEFAULT_SCRYPT_R, "p": DEFAULT_SCRYPT_P}
    digest = PasswordHash("scrypt", params, salt, b"\0" * HASH_BYTES).derive(
        password.encode("utf-8"))
    param_text = ",".join(f"{key}={value}" for key, value in params.items())
    return f"{SCRYPT_PREFIX}{param_text}${_b64encode(salt)}${_b64encode(digest)}"


#: Verified against when the user does not exist, so that an unknown user
#: costs the same time as a wrong password.
DUMMY_HASH = PasswordHash("scrypt", {"ln": DEFAULT_SCRYPT_LOG_N, "r": DEFAULT_SCRYPT_R,
                                     "p": DEFAULT_SCRYPT_P},
                          b"chipmunk-dummy-salt", b"\0" * HASH_BYTES)


@dataclass(frozen=True)
class UserCredential:
    """A user's password: either a parsed hash or a plain-text secret."""

    hashed: PasswordHash | None
    plain: bytes | None

    @property
    def fingerprint(self) -> bytes:
        """What the login cache keys this credential by (empty: plain text,
        which is never cached: it costs no hash)."""
        return self.hashed.fingerprint if self.hashed is not None else b""
