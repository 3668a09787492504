"""What the server checks of a configuration before it serves it, and what it
says of one: for the command line (``check``, start-up), the supervisor
(before its workers start or reload) and the worker alike.
"""
from __future__ import annotations

import logging

from .hosting import tls_adapter
from .publisher import check_publishers
from .settings import ServerSettings, load_settings

log = logging.getLogger(__name__)


def load_checked(path: str, publishers: bool = True) -> ServerSettings:
    """Settings, checked as far as serving them would: the TLS files load and
    (``publishers``) the publishing providers build, and are closed again.
    What ``check`` runs, and the supervisor before its workers start or
    reload; a single worker builds its providers once, when it starts."""
    settings = load_settings(path)
    tls_adapter(settings)
    if publishers:
        check_publishers(settings)
    return settings


def status_text(settings: ServerSettings, addresses: list[str]) -> str:
    users = len(settings.users)
    text = f"Serving on {', '.join(addresses)} for {users} user{'s' * (users != 1)}"
    if settings.workers > 1:
        text += f" with {settings.workers} workers"
    return text + (" over TLS" if settings.tls else "")


def warn_about_restart_only(previous: ServerSettings, settings: ServerSettings) -> None:
    """Keys a reload cannot apply to sockets and processes that already exist."""
    for key in ("listen", "workers", "max_parallel_hashes", "metrics_listen"):
        if getattr(settings, key) != getattr(previous, key):
            log.warning("[Server] %s changed; it takes effect on restart", key)


def summary(settings: ServerSettings) -> str:
    return f"{len(settings.users)} users"
