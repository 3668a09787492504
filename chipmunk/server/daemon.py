"""chipmunk-server's runtime: signals, sockets, then one worker or a supervisor.

Signal handlers only record what happened (:class:`SignalInbox`); the main
loop of the :class:`Worker` or the :class:`Supervisor` acts on it.  The
handlers are installed before anything is bound, so a SIGTERM during
start-up is a clean stop.
"""
from __future__ import annotations

import logging
import os
import signal
import socket

from ..signals import Request, SignalInbox
from ..systemd import Notifier, inherited_sockets
from . import metrics
from .addressbook import make_state_dir
from .hosting import bind_listeners, socket_address
from .serverwide import ServerWide
from .settings import ServerSettings
from .supervisor import Supervisor
from .worker import Worker

log = logging.getLogger(__name__)

SIGNALS: dict[int, Request] = {signal.SIGHUP: Request.RELOAD, signal.SIGTERM: Request.TERMINATE,
           signal.SIGINT: Request.TERMINATE, signal.SIGCHLD: Request.CHILD_EXITED}


def open_listeners(settings: ServerSettings) -> list[list[socket.socket]]:
    """One set of listening sockets per worker: systemd's, or bound here."""
    inherited = inherited_sockets()
    if inherited:
        log.info("using %d socket(s) from systemd; [Server] listen is ignored",
                 len(inherited))
        return [inherited] * settings.workers
    return bind_listeners(settings.listen, settings.backlog, copies=settings.workers)


def open_metrics_listeners(settings: ServerSettings) -> list[list[socket.socket]]:
    """A copy of the metrics sockets per worker (any worker answers a scrape
    with the sum over all of them), or none when metrics are off."""
    if not settings.metrics_listen:
        return [[] for _ in range(settings.workers)]
    return bind_listeners(settings.metrics_listen, 16, copies=settings.workers)


def serve(config_path: str, settings: ServerSettings, load_seconds: float = 0.0) -> int:
    """Serve until SIGTERM; OSError when a socket cannot be bound or the
    state directory cannot be made.

    ``load_seconds``: how long loading ``settings`` took (a metric)."""
    main_pid = os.getpid()
    if make_state_dir(settings.state_dir):
        log.info("made the state directory %s", settings.state_dir)
    inbox = SignalInbox(SIGNALS)
    notifier = Notifier()
    socket_sets = open_listeners(settings)
    metrics_sets = open_metrics_listeners(settings)
    addresses = [socket_address(sock) for sock in socket_sets[0]]
    log.info("listening on %s", ", ".join(addresses))
    if metrics_sets[0]:
        log.info("metrics on %s", ", ".join(f"http://{socket_address(sock)}/metrics"
                                             for sock in metrics_sets[0]))
    # Before any fork: every worker shares the same slots, lockouts and metrics files.
    shared = ServerWide.for_slots(settings.max_parallel_hashes)
    values = metrics.enable() if settings.metrics_listen else None
    metrics.METRICS.config_loaded(load_seconds)
    try:
        if settings.workers == 1:
            return Worker(config_path, settings, socket_sets[0], addresses, inbox,
                          notifier, shared, metrics_sockets=metrics_sets[0]).run()
        return Supervisor(config_path, settings, socket_sets, addresses, inbox, notifier,
                          shared, metrics_sets).run()
    finally:
        if values is not None and os.getpid() == main_pid:
            metrics.disable(values)
