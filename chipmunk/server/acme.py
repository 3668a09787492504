"""The acme-dns API: an ACME client sets its key's DNS-01 challenge.

``POST /update`` (and ``/acme/update``) with ``X-Api-User`` (the key id),
``X-Api-Key`` (the key) and a JSON body ``{"subdomain": KEY_ID, "txt":
VALUE}`` -- lego's older goacmedns sends ``SubDomain`` and ``Txt``, which
acme-dns accepts too.  The record written is
``_acme-challenge.<the key's hostname>`` TXT, through the publishing
provider that holds the name.  As acme-dns does, the two most recent
values are kept (a certificate for ``name`` and ``*.name`` needs both at
once); a value older than ``[Publish] challenge_lifetime`` goes with the
next update of the name.  Answers are acme-dns's: 200 ``{"txt": VALUE}``,
400 ``{"error": "bad_txt"}`` (not 43 characters of base64url),
``bad_subdomain`` or ``malformed_json_payload``, 401 ``{"error":
"forbidden"}`` (also for another key's subdomain).  ``GET /health`` answers
200 without credentials.  There is no ``/register``: keys come from the
config (``chipmunk-server new-key HOSTNAME --acme``).
"""
from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UpdateError
from .hostnames import HostnameFiles

if TYPE_CHECKING:
    from .runtime import Runtime

log = logging.getLogger(__name__)

CHALLENGE_LABEL = "_acme-challenge"
#: a key authorization digest: SHA-256, base64url without padding
TXT_VALUE = re.compile(r"[A-Za-z0-9_-]{43}")
MAX_BODY = 4096
KEPT = 2
DIRECTORY = "acme"


class Refused(Exception):
    """An acme-dns error: the status and the error word."""

    def __init__(self, status: str, error: str) -> None:
        super().__init__(error)
        self.status, self.error = status, error


def read_body(environ: dict) -> dict:
    """The request's JSON object; Refused when it is not one or too large."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise Refused("400 Bad Request", "malformed_json_payload") from None
    if length > MAX_BODY:
        raise Refused("413 Content Too Large", "malformed_json_payload")
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Refused("400 Bad Request", "malformed_json_payload") from None
    if not isinstance(document, dict):
        raise Refused("400 Bad Request", "malformed_json_payload")
    return document


def _field(document: dict, name: str) -> str | None:
    """``name`` or its capitalised spelling (``SubDomain``, ``Txt``)."""
    for key, value in document.items():
        if isinstance(key, str) and key.lower() == name.lower() and isinstance(value, str):
            return value
    return None


def update(runtime: Runtime, key_id: str, environ: dict) -> tuple[str, dict]:
    """(status, JSON answer) for one POST /update of key ``key_id``."""
    key = runtime.settings.keys.get(key_id)
    if key is None or not key.may("acme"):
        return "401 Unauthorized", {"error": "forbidden"}
    try:
        document = read_body(environ)
    except Refused as refused:
        return refused.status, {"error": refused.error}
    subdomain, txt = _field(document, "subdomain"), _field(document, "txt")
    if subdomain is None:
        return "400 Bad Request", {"error": "bad_subdomain"}
    if subdomain != key_id:
        log.warning("acme-dns update as key %s for subdomain %r: not the key's", key_id,
                    subdomain[:64])
        return "401 Unauthorized", {"error": "forbidden"}
    if txt is None or not TXT_VALUE.fullmatch(txt):
        return "400 Bad Request", {"error": "bad_txt"}
    name = f"{CHALLENGE_LABEL}.{key.hostname}"
    values = _kept(runtime, key.hostname, txt)
    try:
        runtime.publisher.set_txt(key.hostname, name, values)
    except UpdateError as error:
        log.error("acme-dns update of %s as key %s: %s", name, key_id, error)
        return "503 Service Unavailable", {"error": "publishing_failed"}
    return "200 OK", {"txt": txt}


def _kept(runtime: Runtime, hostname: str, txt: str) -> list[str]:
    """The values the record holds after ``txt``: the two most recent within
    the challenge lifetime (kept in client_update_dir/acme/)."""
    files = HostnameFiles(Path(runtime.settings.state_dir) / DIRECTORY)
    now = time.time()
    lifetime = runtime.settings.challenge_lifetime
    kept: list[str] = []

    def newest(held: dict[str, str]) -> dict[str, str | None]:
        ages = {value: float(when) for value, when in held.items()
                if _number(when) and now - float(when) < lifetime and value != txt}
        recent = sorted(ages, key=ages.get, reverse=True)[:KEPT - 1]  # type: ignore[arg-type]
        kept[:] = [*recent, txt]
        return {value: (f"{now:.3f}" if value == txt else held[value]) if value in kept
                else None for value in {*held, txt}}
    files.change(hostname, newest)
    return sorted(kept)


def sweep(runtime: Runtime) -> None:
    """Remove the challenges older than ``challenge_lifetime`` from DNS (each
    worker sweeps; under the directory's lock the second finds nothing)."""
    directory = Path(runtime.settings.state_dir) / DIRECTORY
    try:
        hostnames = [path.name for path in directory.iterdir() if path.is_file()]
    except OSError:
        return
    files = HostnameFiles(directory)
    now = time.time()
    lifetime = runtime.settings.challenge_lifetime
    for hostname in hostnames:
        try:
            _sweep_one(runtime, files, hostname, now, lifetime)
        except (OSError, ValueError, UpdateError) as error:
            log.warning("cannot remove the expired ACME challenges of %s: %s", hostname,
                        error)


def _sweep_one(runtime: Runtime, files: HostnameFiles, hostname: str, now: float,
               lifetime: float) -> None:
    dropped: list[str] = []
    kept: list[str] = []

    def fresh(held: dict[str, str]) -> dict[str, str | None]:
        for value, when in held.items():
            (kept if _number(when) and now - float(when) < lifetime else dropped
             ).append(value)
        return {value: (held[value] if value in kept else None) for value in held}
    files.change(hostname, fresh)
    if dropped:
        runtime.publisher.set_txt(hostname, f"{CHALLENGE_LABEL}.{hostname}", sorted(kept))


def sweep_interval(runtime: Runtime) -> float:
    return min(60.0, runtime.settings.challenge_lifetime / 2)


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
