"""The client's structured log events and their journal MESSAGE_IDs.

Each kind of event has a fixed MESSAGE_ID, so ``journalctl MESSAGE_ID=...``
finds every address change or failed update however the message reads.
The fields ride along as ``extra=``: the journal stores them as fields, the
plain stderr formatter appends them.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .providers import Record

MESSAGE_IDS = {
    "ip-changed": "b7ce25d019014dbe8411dbea6c83ad16",
    "dns-updated": "245b90c13fe847cf884b7a7fda9c4daf",
    "dns-unchanged": "be3e85d04c8e4af1b36cb795b79a8900",
    "update-failed": "93ce8fb373244857a3d8235967fb3cb4",
}


def record_fields(record: "Record", address: str) -> dict[str, str]:
    return {"CHIPMUNK_PROVIDER": record.provider, "CHIPMUNK_RECORD": record.key,
            "CHIPMUNK_IP": address}


def log_event(logger: logging.Logger, event: str, message: str,
              level: int = logging.INFO, **fields: str) -> None:
    logger.log(level, "%s", message, extra={"CHIPMUNK_EVENT": event,
                                            "MESSAGE_ID": MESSAGE_IDS[event], **fields})
