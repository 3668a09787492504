"""What the client remembers between runs, in ``state.json`` in the state dir.

A timer starts a new process every few minutes, so everything that decides
whether a provider must be called lives here: the last address and, per
record, when it was last updated, with what result and error.  The file is
replaced atomically.  A corrupt file is moved aside with a warning and the
client starts afresh: that costs at most one unnecessary update.
"""
from __future__ import annotations

import enum
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..atomicfile import write_atomic
from .sources.spec import FAMILY_KEYS

if TYPE_CHECKING:
    from .agreement import Verdict

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
FORMAT_VERSION = 1
SOURCE_COUNTS = ("successes", "failures", "disagreements")


class RecordResult(enum.StrEnum):
    """How a record's last attempt ended; the value is what state.json holds."""

    UPDATED = "updated"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    NEEDS_ATTENTION = "needs-attention"


@dataclass
class RecordState:
    address: str | None = None
    #: wall-clock time of the last successful update or confirmation
    updated_at: float | None = None
    attempted_at: float | None = None
    result: RecordResult | None = None
    error: str | None = None
    #: fingerprint of the provider section a "needs-attention" result was
    #: reached with: the record is tried again once the section changes
    config_fingerprint: str | None = None
    #: no retry before this wall-clock time (a provider's Retry-After)
    retry_not_before: float | None = None
    #: the exit code a "needs-attention" result keeps reporting
    exit_code: int | None = None
    #: failed attempts since the last success
    failures: int = 0


@dataclass
class ClientState:
    #: record type ("A", "AAAA") -> the last address learned for it
    addresses: dict[str, str] = field(default_factory=dict)
    #: record type -> when that address was first seen
    changed_at: dict[str, float] = field(default_factory=dict)
    checked_at: float | None = None
    last_error: str | None = None
    records: dict[str, RecordState] = field(default_factory=dict)
    #: "ipv4 SOURCE" -> {"successes", "failures", "disagreements"}: counts
    #: for the metrics (2.0 ignores this key, and a downgrade keeps working)
    sources: dict[str, dict[str, int]] = field(default_factory=dict)
    #: family key -> the carrier-grade NAT diagnosis of the last check
    diagnoses: dict[str, str] = field(default_factory=dict)

    def record(self, key: str) -> RecordState:
        return self.records.setdefault(key, RecordState())

    def count_sources(self, verdicts: list[Verdict]) -> None:
        """Add one check's answers to each source's counts; keep its diagnosis."""
        for verdict in verdicts:
            family = FAMILY_KEYS[verdict.family]
            if verdict.cgnat:
                self.diagnoses[family] = verdict.cgnat
            else:
                self.diagnoses.pop(family, None)
            for answer in verdict.answers:
                if not answer.asked or answer.seconds is None:
                    continue
                counts = self.sources.setdefault(f"{family} {answer.source}", dict.fromkeys(
                    SOURCE_COUNTS, 0))
                if not answer.believed:
                    counts["failures"] += 1
                elif verdict.address is not None and answer.said == verdict.address:
                    counts["successes"] += 1
                else:
                    counts["disagreements"] += 1

    def to_json(self) -> str:
        document = {"version": FORMAT_VERSION, **asdict(self)}
        return json.dumps(document, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ClientState:
        document = json.loads(text)
        if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
            raise ValueError("unknown format")
        records = {key: _record_state(value) for key, value in document["records"].items()}
        return cls(addresses=dict(document["addresses"]),
                   changed_at=dict(document["changed_at"]),
                   checked_at=document["checked_at"], last_error=document["last_error"],
                   records=records, sources=_source_counts(document.get("sources", {})),
                   diagnoses={str(k): str(v) for k, v in
                              document.get("diagnoses", {}).items()})


def _source_counts(saved: dict) -> dict[str, dict[str, int]]:
    return {str(source): {name: int(counts.get(name, 0)) for name in SOURCE_COUNTS}
            for source, counts in saved.items()}


def _record_state(saved: dict) -> RecordState:
    """A RecordState from its JSON object; ``config`` is the fingerprint's old key."""
    saved = dict(saved)
    if "config" in saved:
        saved["config_fingerprint"] = saved.pop("config")
    if saved.get("result") is not None:
        saved["result"] = RecordResult(saved["result"])
    return RecordState(**saved)


class StateStore:
    """Loads and saves the state file of one state directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / STATE_FILE

    def load(self) -> ClientState:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ClientState()
        try:
            return ClientState.from_json(text)
        except (ValueError, KeyError, TypeError) as error:
            aside = self.path.with_name(f"{STATE_FILE}.corrupt-{int(time.time())}")
            self.path.replace(aside)
            log.warning("state file %s is unreadable (%s); moved it to %s and starting "
                        "afresh", self.path, error, aside.name)
            return ClientState()

    def save(self, state: ClientState) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, state.to_json().encode("utf-8"), mode=0o600)
