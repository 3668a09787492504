"""chipmunk-server's runtime: signals, sockets, then one worker or a supervisor.

Signal handlers only record what happened (:class:`SignalInbox`); the main
loop of the :class:`Worker` or the :class:`Supervisor` acts on it.  The
handlers are installed before anything is bound, so a SIGTERM during
start-up is a clean stop.
"""
from __future__ import annotations

import logging
import signal
import socket

from ..signals import Request, SignalInbox
from ..systemd import Notifier, inherited_sockets
from .budget import HashBudget
from .hosting import bind_listeners, socket_address
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
    # Behind a reverse proxy every connection comes from the proxy, and the
    # lockout counts the forwarded address, which the kernel cannot see:
    # steering would put all traffic on one worker and group nothing.
    steer = not settings.trusted_proxies
    return bind_listeners(settings.listen, settings.backlog, copies=settings.workers,
                          prefixes=(settings.lockout_ipv4_prefix, settings.lockout_ipv6_prefix)
                          if steer else None)


def serve(config_path: str, settings: ServerSettings) -> int:
    """Serve until SIGTERM; OSError when a socket cannot be bound."""
    inbox = SignalInbox(SIGNALS)
    notifier = Notifier()
    socket_sets = open_listeners(settings)
    addresses = [socket_address(sock) for sock in socket_sets[0]]
    log.info("listening on %s", ", ".join(addresses))
    # Before any fork: every worker shares the same slots.
    budget = HashBudget(settings.max_parallel_hashes)
    if settings.workers == 1:
        return Worker(config_path, settings, socket_sets[0], addresses, inbox,
                      notifier, budget).run()
    return Supervisor(config_path, settings, socket_sets, addresses, inbox, notifier,
                      budget).run()
