"""Prometheus metrics of chipmunk-server, one sum over all its processes.

Off unless ``[Server] metrics_listen`` is set: then prometheus_client (Debian
``python3-prometheus-client``) runs in its multiprocess mode -- every
process writes its values to memory-mapped files in a private directory,
made empty at start, and whichever worker answers a scrape sums them all
(prometheus_client's merge, through :class:`SizedFilesCollector`).  So one
scrape shows the whole server, and the counts of a worker that died stay in
the sums.  ``/metrics`` is served on its own listener by every worker (a
copy of its socket each, as for ``listen``), never on the public port and
never behind the users' passwords.

Labels are bounded: routes are the known paths (anything else is
``other``), results and statuses are small sets, providers are the
configured ones.  Never a label per address or user.

Requests are counted in plain numbers by each process and added to the
shared values once a second (``flush``), so a scrape may lag a second
behind; updating the shared, locked values from every request thread cost
the hot path 5-10 % in ``benchmarks/metrics_bench.py``.  When metrics are off,
:data:`METRICS` is a :class:`ServerMetrics` whose methods do nothing, and
prometheus_client is not even imported.
"""
from __future__ import annotations

import bisect
import glob
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable
from typing import Any

ENVIRONMENT = "PROMETHEUS_MULTIPROC_DIR"
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0)


class ServerMetrics:
    """What the server counts; this base counts nothing (metrics off)."""

    enabled = False

    def request(self, route: str, status: int, seconds: float) -> None:
        """One answered request: its route, HTTP status and duration."""

    def flush(self) -> None:
        """Make what was counted visible to a scrape (see FLUSH_INTERVAL)."""

    def failed_login(self) -> None: ...
    def lockout(self) -> None: ...
    def hash_refused(self) -> None: ...
    def set_changed(self) -> None: ...
    def dyndns(self, result: str) -> None: ...
    def published(self, provider: str, ok: bool) -> None: ...
    def reload(self, ok: bool) -> None: ...
    def config_loaded(self, seconds: float) -> None: ...
    def refresh(self, locked_out: int, connections: int) -> None: ...
    def workers(self, alive: int) -> None: ...
    def respawned(self) -> None: ...
    def worker_gone(self, pid: int) -> None: ...


class PrometheusMetrics(ServerMetrics):
    enabled = True

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram
        self.requests = Counter("chipmunk_requests", "Requests answered, by route and "
                                "HTTP status.", ["route", "status"])
        self.duration = Histogram("chipmunk_request_duration_seconds", "Time to answer a "
                                  "request, by route.", ["route"], buckets=DURATION_BUCKETS)
        self.failed_logins = Counter("chipmunk_failed_logins", "Logins refused: a wrong "
                                     "or unknown user or password.")
        self.lockouts = Counter("chipmunk_lockouts", "Client networks locked out after "
                                "too many failed logins.")
        # every worker reads the one shared table: the same number from each
        self.locked_out = Gauge("chipmunk_locked_out_networks", "Client networks locked out "
                                "now.", multiprocess_mode="livemax")
        self.hashes_refused = Counter("chipmunk_hash_budget_refusals", "Logins refused "
                                      "with 503 because max_parallel_hashes were busy.")
        self.set_changes = Counter("chipmunk_set_changes", "/set requests that changed a "
                                   "user's stored address.")
        self.dyndns_updates = Counter("chipmunk_dyndns_updates", "dyndns2 answer lines, by "
                                      "result (good, nochg, nohost, notfqdn, numhost, "
                                      "dnserr, 911, badauth).", ["result"])
        self.publishes = Counter("chipmunk_publishes", "Records published or confirmed, "
                                 "by provider.", ["provider"])
        self.publish_failures = Counter("chipmunk_publish_failures", "Records a provider "
                                        "failed to publish, by provider.", ["provider"])
        self.reloads = Counter("chipmunk_reloads", "Configuration reloads by a process, by "
                               "result (ok, refused).", ["result"])
        self.load_time = Gauge("chipmunk_config_load_seconds", "How long the last "
                               "configuration load took.", multiprocess_mode="livemax")
        self.connections = Gauge("chipmunk_open_connections", "Client connections open "
                                 "now.", multiprocess_mode="livesum")
        self.alive = Gauge("chipmunk_workers", "Worker processes serving now.",
                           multiprocess_mode="livemax")
        self.respawns = Counter("chipmunk_worker_respawns", "Worker processes started "
                                "again after one died.")
        #: (route, status) -> [requests, duration sum, count per bucket] since
        #: the last flush(): plain numbers, so the request threads never touch
        #: the shared, locked values (that cost the hot path 5-10 %)
        self._pending: dict[tuple[str, int], list] = {}
        self._pending_lock = threading.Lock()

    def request(self, route: str, status: int, seconds: float) -> None:
        bucket = bisect.bisect_left(DURATION_BUCKETS, seconds)  # "le": first bound >= it
        with self._pending_lock:
            pending = self._pending.get((route, status))
            if pending is None:
                pending = self._pending[(route, status)] = [
                    0, 0.0, [0] * (len(DURATION_BUCKETS) + 1)]
            pending[0] += 1
            pending[1] += seconds
            pending[2][bucket] += 1

    def flush(self) -> None:
        """Add the requests answered since the last flush to the shared values."""
        with self._pending_lock:
            pending, self._pending = self._pending, {}
        for (route, status), (count, total, buckets) in pending.items():
            self.requests.labels(route, str(status)).inc(count)
            histogram = self.duration.labels(route)
            # prometheus_client has no bulk observe(): add to its buckets and sum
            # (the same attributes in Debian's 0.16 and PyPI's latest; tested on both)
            histogram._sum.inc(total)
            for bucket, n in zip(histogram._buckets, buckets, strict=True):
                if n:
                    bucket.inc(n)

    def failed_login(self) -> None:
        self.failed_logins.inc()

    def lockout(self) -> None:
        self.lockouts.inc()

    def hash_refused(self) -> None:
        self.hashes_refused.inc()

    def set_changed(self) -> None:
        self.set_changes.inc()

    def dyndns(self, result: str) -> None:
        self.dyndns_updates.labels(result).inc()

    def published(self, provider: str, ok: bool) -> None:
        (self.publishes if ok else self.publish_failures).labels(provider).inc()

    def reload(self, ok: bool) -> None:
        self.reloads.labels("ok" if ok else "refused").inc()

    def config_loaded(self, seconds: float) -> None:
        self.load_time.set(seconds)

    def refresh(self, locked_out: int, connections: int) -> None:
        self.locked_out.set(locked_out)
        self.connections.set(connections)

    def workers(self, alive: int) -> None:
        self.alive.set(alive)

    def respawned(self) -> None:
        self.respawns.inc()

    def worker_gone(self, pid: int) -> None:
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(pid)


#: the process's metrics: nothing counted until enable()
METRICS: ServerMetrics = ServerMetrics()


def enable() -> str:
    """Turn metrics on for this process and the workers it forks; the
    directory the values go to (empty, private to this server run)."""
    global METRICS
    directory = tempfile.mkdtemp(prefix="chipmunk-metrics-")
    os.environ[ENVIRONMENT] = directory  # read when prometheus_client is imported
    METRICS = PrometheusMetrics()
    return directory


def disable(directory: str) -> None:
    """At exit: forget the values (the next run starts from zero)."""
    shutil.rmtree(directory, ignore_errors=True)


class SizedFilesCollector:
    """prometheus_client's sum over the processes' files, without the files
    still being made.

    prometheus_client creates a process's file empty and sizes it a moment
    later, and its collector fails on an empty file: a scrape in that moment
    -- and every scrape after, when the process was killed in it -- was a 500
    (client_python#1199, open in 0.16 and the latest).  An empty file has
    nothing recorded yet, so it is left out; a file never shrinks back to
    empty, so once sized it is read.
    """

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def collect(self) -> Iterable[Any]:
        from prometheus_client.multiprocess import MultiProcessCollector
        return MultiProcessCollector.merge(
            [path for path in glob.glob(os.path.join(self.directory, "*.db"))
             if _is_sized(path)], accumulate=True)


def _is_sized(path: str) -> bool:
    try:
        return os.stat(path).st_size > 0
    except FileNotFoundError:  # a live gauge's process ended: it is not summed
        return False


def metrics_app() -> Callable[[dict, Callable[..., Any]], Iterable[bytes]]:
    """The WSGI app of the metrics listener: /metrics, summed over processes."""
    from prometheus_client import CollectorRegistry, make_wsgi_app
    registry = CollectorRegistry()
    registry.register(SizedFilesCollector(os.environ[ENVIRONMENT]))
    exposition = make_wsgi_app(registry)

    def app(environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain"),
                                             ("Content-Length", "10")])
            return [b"Not found\n"]
        return exposition(environ, start_response)
    return app
