"""A serving process: the WSGI app in cheroot on one set of listening sockets.

With ``workers = 1`` the worker is the main process and talks to systemd
itself through its :class:`~chipmunk.service.Service`.  Under a
:class:`~chipmunk.server.supervisor.Supervisor` it stays quiet towards
systemd and instead acknowledges every reload on the supervisor's channel
(a datagram ``PID DIGEST``, or ``PID refused``), so that the supervisor
sends ``READY=1`` only once every process serves the new configuration.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass

from ..cli import ExitCode
from ..config import ConfigError
from ..service import Loaded, Service
from ..signals import Request, SignalInbox
from ..systemd import Notifier
from . import metrics
from .app import ChipmunkApp
from .checks import status_text, summary, warn_about_restart_only
from .hosting import HTTPService, TLSAdapter, tls_adapter
from .runtime import Runtime
from .serverwide import ServerWide
from .settings import ServerSettings, load_settings

log = logging.getLogger(__name__)

REFUSED = "refused"
#: seconds between moving this process's counts into the shared metrics and
#: updating its gauges, when metrics are on (a scrape may be this late)
REFRESH = 1.0


@dataclass(frozen=True)
class Prepared(Loaded):
    """The server's settings, its TLS adapter and its runtime, built once per load."""

    settings: ServerSettings
    tls: TLSAdapter | None
    runtime: Runtime


class Worker:
    """Serves until TERMINATE; applies a new configuration on RELOAD."""

    def __init__(self, config_path: str, settings: ServerSettings,
                 sockets: list[socket.socket], addresses: list[str],
                 inbox: SignalInbox, notifier: Notifier, shared: ServerWide,
                 acks: socket.socket | None = None,
                 metrics_sockets: list[socket.socket] | None = None) -> None:
        self.config_path = config_path
        self.settings = settings
        self.addresses = addresses
        self.service = Service(inbox, notifier, self.status_text)
        #: the supervisor's end of the reload channel; None when alone
        self.acks = acks
        self.app = ChipmunkApp(settings, shared=shared)
        self.http = HTTPService(sockets, self.app, settings)
        self.metrics_http = HTTPService(metrics_sockets, metrics.metrics_app(), settings,
                                        tls=False) if metrics_sockets else None

    def status_text(self) -> str:
        return status_text(self.settings, self.addresses)

    def run(self) -> int:
        self.http.start()
        if self.metrics_http is not None:
            self.metrics_http.start()
        self.service.ready()
        # with metrics on, the gauges of this process are brought up to date
        # every REFRESH seconds; otherwise the process sleeps until a signal
        refresh = REFRESH if metrics.METRICS.enabled else None
        while (request := self.service.wait(refresh)) is not Request.TERMINATE:
            if request is None:
                metrics.METRICS.flush()
                metrics.METRICS.refresh(self.app.runtime.lockout.locked_out(),
                                        self.http.open_connections())
            if request is not Request.RELOAD:
                continue
            if self.acks is None:
                self.service.reload(self._load, self._apply)
            else:
                self._reload_for_supervisor()
        self.service.stopping("Stopping: finishing requests in progress")
        self.http.stop()
        metrics.METRICS.flush()
        if self.metrics_http is not None:
            self.metrics_http.stop()
        self.app.close()
        if self.acks is None:
            log.info("stopped")
        return ExitCode.OK

    def _load(self) -> Prepared:
        started = time.perf_counter()
        try:
            settings = load_settings(self.config_path)
            prepared = Prepared(settings, tls_adapter(settings), self.app.prepare(settings))
        except ConfigError:
            metrics.METRICS.reload(ok=False)
            raise
        metrics.METRICS.config_loaded(time.perf_counter() - started)
        metrics.METRICS.reload(ok=True)
        return prepared

    def _apply(self, prepared: Prepared) -> str:
        if self.acks is None:
            warn_about_restart_only(self.settings, prepared.settings)
        self.app.use(prepared.runtime)
        self.http.set_tls(prepared.tls)
        self.settings = prepared.settings
        return summary(prepared.settings)

    def _reload_for_supervisor(self) -> None:
        """Reload, then tell the supervisor which configuration now serves."""
        try:
            prepared = self._load()
        except ConfigError as error:
            # The supervisor checked the file; it changed again since.
            log.error("worker %d: reload refused, still serving the previous "
                      "configuration: %s", os.getpid(), error)
            self._acknowledge(REFUSED)
            return
        self._apply(prepared)
        self._acknowledge(prepared.settings.digest)

    def _acknowledge(self, what: str) -> None:
        assert self.acks is not None
        try:
            self.acks.send(f"{os.getpid()} {what}".encode("ascii"))
        except OSError as error:  # the supervisor is gone: nobody to tell
            log.warning("worker %d: cannot acknowledge the reload: %s", os.getpid(), error)
