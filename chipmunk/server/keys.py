"""Scoped keys: a secret for one hostname that may do one thing.

A router should not hold its user's password, which also opens ``/set``,
the status page and every other name of the user.  A key belongs to exactly
one hostname of some user's ``[Hostnames]`` and may update its A/AAAA
records by dyndns2 (``update``), set its ACME challenge TXT records through
the acme-dns API (``acme``), or both.  It logs in as a user does (the key
id as the user name, the secret as the password; acme-dns's ``X-Api-User``
and ``X-Api-Key``), through the same lockout, hashing budget and login
cache, and opens nothing else.

Each key is a section of its own, so that ``chipmunk-server new-key``'s
output can be appended to the config as it is::

    [Key 3f2c9a1e-...]
    hostname = home.example.org
    update = yes
    acme = no
    hash = $scrypt$...
"""
from __future__ import annotations

import configparser
import re
import secrets
import uuid
from dataclasses import dataclass

from ..config import ConfigError
from ..converters import normalize_hostname, to_bool
from . import passwords

SECTION_PREFIX = "Key "
SCOPES = ("update", "acme")
KEY_ID = re.compile(r"[A-Za-z0-9-]{8,64}")
#: acme-dns hands out 40-character keys; so do we
SECRET_CHARACTERS = 40
KEYS = ("hostname", "update", "acme", "hash")


@dataclass(frozen=True)
class Key:
    key_id: str
    hostname: str
    scopes: frozenset[str]
    credential: passwords.UserCredential

    def may(self, scope: str) -> bool:
        return scope in self.scopes


def is_key_section(name: str) -> bool:
    return name.startswith(SECTION_PREFIX)


def new_key(hostname: str, update: bool, acme: bool) -> tuple[str, str, str]:
    """(key id, secret, the INI fragment that declares it); ``update`` when
    neither scope is asked for."""
    name = normalize_hostname(hostname)
    if name is None:
        raise ValueError(f"{hostname!r} is not a fully qualified host name")
    update = update or not acme
    key_id = str(uuid.uuid4())
    secret = secrets.token_urlsafe(SECRET_CHARACTERS)[:SECRET_CHARACTERS]
    fragment = (f"# a key for {name}: store these two in the router or ACME client\n"
                f"# user: {key_id}\n# key: {secret}\n"
                f"[{SECTION_PREFIX}{key_id}]\nhostname = {name}\n"
                f"update = {'yes' if update else 'no'}\nacme = {'yes' if acme else 'no'}\n"
                f"hash = {passwords.hash_password(secret)}\n")
    return key_id, secret, fragment


def load_keys(parser: configparser.ConfigParser, path: str, owners: dict[str, str],
              users: dict) -> dict[str, Key]:
    """Key id -> Key for every ``[Key ID]`` section; ConfigError naming the
    section and key for anything wrong.  ``owners``: hostname -> its user."""
    keys: dict[str, Key] = {}
    for section in parser.sections():
        if not is_key_section(section):
            continue
        key_id = section[len(SECTION_PREFIX):].strip()
        if not KEY_ID.fullmatch(key_id):
            raise ConfigError(path, "a key id has 8 to 64 of A-Z a-z 0-9 -", section)
        if key_id in users:
            raise ConfigError(path, "a key id must not be a user's name", section)
        values = dict(parser.items(section))
        for unknown in sorted(set(values) - set(KEYS)):
            raise ConfigError(path, f"unknown key (known: {', '.join(KEYS)})", section,
                              unknown, values[unknown])
        for required in ("hostname", "hash"):
            if not values.get(required, "").strip():
                raise ConfigError(path, "required key is missing", section, required)
        hostname = normalize_hostname(values["hostname"])
        if hostname is None or hostname not in owners:
            raise ConfigError(path, "not a name in any user's [Hostnames]", section,
                              "hostname", values["hostname"])
        scopes = set()
        for scope in SCOPES:
            try:
                if to_bool(values.get(scope, "no")):
                    scopes.add(scope)
            except ValueError as error:
                raise ConfigError(path, str(error), section, scope, values[scope]) from None
        if not scopes:
            raise ConfigError(path, "the key may do nothing: set update = yes or "
                              "acme = yes", section)
        secret = values["hash"].strip()
        if not passwords.is_hashed(secret):
            raise ConfigError(path, "expected a hash from chipmunk-server new-key",
                              section, "hash", "********")
        try:
            credential = passwords.UserCredential(passwords.parse_hash(secret), None)
        except ValueError as error:
            raise ConfigError(path, str(error), section, "hash", "********") from None
        keys[key_id] = Key(key_id, hostname, frozenset(scopes), credential)
    return keys
