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
from collections.abc import Callable
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
    except (ValueError, UnicodeDecodeError, RecursionError):  # [[[[... nests too deep
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
    try:
        _change(runtime, key.hostname, lambda fresh: {
            **dict(sorted(fresh.items(), key=lambda item: item[1])[-(KEPT - 1):]),
            txt: time.time()}, always=True)
    except (UpdateError, OSError) as error:
        log.error("acme-dns update of %s.%s as key %s: %s", CHALLENGE_LABEL, key.hostname,
                  key_id, error)
        return "503 Service Unavailable", {"error": "publishing_failed"}
    return "200 OK", {"txt": txt}


def _change(runtime: Runtime, hostname: str,
            choose: Callable[[dict[str, float]], dict[str, float]],
            always: bool = False) -> None:
    """Keep the values ``choose`` picks from the unexpired ones (value ->
    when it was set), kept in client_update_dir/acme/: under the directory's
    lock they are published, then written down.  So two updates of one name
    at once (a certificate for the name and its wildcard) publish one after
    the other, the second with both values; and a failed publish changes
    nothing.  Published when the values changed, or ``always``."""
    files = HostnameFiles(Path(runtime.settings.state_dir) / DIRECTORY)
    now, lifetime = time.time(), runtime.settings.challenge_lifetime

    def change(held: dict[str, str]) -> dict[str, str | None]:
        fresh = {value: float(when) for value, when in held.items()
                 if _number(when) and now - float(when) < lifetime}
        kept = choose(fresh)
        if always or set(kept) != set(held):
            runtime.publisher.set_txt(hostname, f"{CHALLENGE_LABEL}.{hostname}",
                                      sorted(kept))
        return {value: f"{kept[value]:.3f}" if value in kept else None
                for value in {*held, *kept}}
    files.change(hostname, change)


def sweep(runtime: Runtime) -> None:
    """Remove the challenges older than ``challenge_lifetime`` from DNS (each
    worker sweeps; under the directory's lock the second finds nothing)."""
    directory = Path(runtime.settings.state_dir) / DIRECTORY
    try:
        hostnames = [path.name for path in directory.iterdir() if path.is_file()]
    except OSError:
        return
    for hostname in hostnames:
        try:
            _change(runtime, hostname, lambda fresh: fresh)
        except (OSError, ValueError, UpdateError) as error:
            log.warning("cannot remove the expired ACME challenges of %s: %s", hostname,
                        error)


def sweep_interval(runtime: Runtime) -> float:
    return min(60.0, runtime.settings.challenge_lifetime / 2)


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
