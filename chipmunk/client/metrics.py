"""``[Global] metrics_file``: the client's state for node_exporter's textfile collector.

Written after every check, by the timer's ``once`` and by the daemon alike,
atomically (a reader sees the old file or the new one), world-readable
(node_exporter runs as its own user) and without sample timestamps (the
real node_exporter drops a file that has them; promtool does not mind).
The temporary file is ``.NAME.*.tmp``, which the collector does not read.

Labels are bounded: one address per family, one series per configured
record, three counters per [Discovery] source.  Rendered by
prometheus_client (Debian python3-prometheus-client), imported only when a
metrics file is configured.
"""
from __future__ import annotations

from pathlib import Path

from ..atomicfile import write_atomic
from .state import SOURCE_COUNTS, ClientState, RecordResult

FAMILIES = {"A": "ipv4", "AAAA": "ipv6"}


def render(state: ClientState, exit_code: int, record_keys: list[str]) -> bytes:
    """The text format for ``state`` after a check that ended with ``exit_code``."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
    registry = CollectorRegistry()

    def gauge(name: str, text: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(f"chipmunk_client_{name}", text, labels, registry=registry)

    gauge("last_check_timestamp_seconds", "When the last check ran (Unix time)."
          ).set(state.checked_at or 0)
    gauge("last_check_exit_code", "How the last check ended: 0 done, 75 temporary "
          "failure, 77 refused, 78 configuration error.").set(exit_code)
    gauge("last_check_success", "1 when the last check ended with exit code 0."
          ).set(1 if exit_code == 0 else 0)
    address = gauge("address_info", "The public address last learned, per family.",
                    ("family", "address"))
    for rtype, value in state.addresses.items():
        address.labels(FAMILIES.get(rtype, rtype), value).set(1)
    labels = ("provider", "name", "type")
    updated = gauge("record_last_success_timestamp_seconds", "When the record was last "
                    "written or confirmed (Unix time; 0: never).", labels)
    failures = gauge("record_consecutive_failures", "Failed attempts since the record's "
                     "last success.", labels)
    attention = gauge("record_needs_attention", "1 when the record waits for a person "
                      "(refused credentials, configuration).", labels)
    for key in record_keys:
        record = state.records.get(key)
        provider, _, rest = key.partition(" ")
        name, _, rtype = rest.rpartition(" ")
        series = (provider, name, rtype)
        updated.labels(*series).set((record.updated_at or 0) if record else 0)
        failures.labels(*series).set(record.failures if record else 0)
        attention.labels(*series).set(
            1 if record and record.result is RecordResult.NEEDS_ATTENTION else 0)
    counters = {name: Counter(f"chipmunk_client_source_{name}", f"Answers of a [Discovery] "
                              f"source counted as {name}.", ("family", "source"),
                              registry=registry) for name in SOURCE_COUNTS}
    for key, counts in sorted(state.sources.items()):
        family, _, source = key.partition(" ")
        for name in SOURCE_COUNTS:
            counters[name].labels(family, source).inc(counts[name])
    cgnat = gauge("carrier_grade_nat", "1 when the router's WAN address is not the public "
                  "address the sources agree on: carrier-grade NAT.", ("family",))
    for family in sorted(state.diagnoses):
        cgnat.labels(family).set(1)
    return generate_latest(registry)


def write(path: Path, state: ClientState, exit_code: int, record_keys: list[str]) -> None:
    """Replace ``path`` atomically, mode 0644; OSError when it cannot."""
    write_atomic(path, render(state, exit_code, record_keys), mode=0o644)
