"""Both programs' structured log events and their journal MESSAGE_IDs.

Each kind of event has a fixed MESSAGE_ID, so ``journalctl MESSAGE_ID=...``
finds every address change or refused login however the message reads, and
the tag in ``CHIPMUNK_EVENT`` says the same in words.  One fact has one
event: an address change is ``address-changed`` whether the server saw it
(``/set``) or the client learned it.  The fields ride along as ``extra=``:
the journal stores them as fields, the plain stderr formatter appends them.
"""
from __future__ import annotations

import enum
import logging
from collections.abc import Mapping


class Event(enum.Enum):
    """An event kind: its ``CHIPMUNK_EVENT`` tag and its MESSAGE_ID."""

    ADDRESS_CHANGED = ("address-changed", "b7ce25d019014dbe8411dbea6c83ad16")
    DNS_UPDATED = ("dns-updated", "245b90c13fe847cf884b7a7fda9c4daf")
    DNS_UNCHANGED = ("dns-unchanged", "be3e85d04c8e4af1b36cb795b79a8900")
    UPDATE_FAILED = ("update-failed", "93ce8fb373244857a3d8235967fb3cb4")
    SET_FAILED = ("set-failed", "1a8e44ae2a3d4672b6f4a43bdfd635d0")
    AUTH_FAILED = ("auth-failed", "b8c4ad8868dc4b0ab19286022866dc01")
    AUTH_LOCKOUT = ("auth-lockout", "3847b7eb6dd646948a27098b6be33309")
    RELOADED = ("reloaded", "d2da1bcbd4584ac9977b2f59602231f5")
    RELOAD_FAILED = ("reload-failed", "42708f3cd7904c6d98760a805770b26e")
    WORKER_DIED = ("worker-died", "bd084bb8c2d4422cbe38926375d5bfe2")

    def __init__(self, tag: str, message_id: str) -> None:
        self.tag = tag
        self.message_id = message_id


def log_event(logger: logging.Logger, event: Event, message: str,
              fields: Mapping[str, str] | None = None, level: int = logging.INFO) -> None:
    """Log ``message`` tagged with ``event``; ``fields`` become journal fields."""
    logger.log(level, "%s", message, extra={"CHIPMUNK_EVENT": event.tag,
                                            "MESSAGE_ID": event.message_id,
                                            **(fields or {})})
