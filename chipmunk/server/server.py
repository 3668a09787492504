"""chipmunk-server's runtime: sockets, signals, reloads, workers, sd_notify.

Signal handlers only record what happened (:class:`SignalInbox`); the main
loop acts on it.  With ``workers = 1`` the main process serves.  With more,
it binds the sockets, forks that many serving processes (they share the
listening sockets, so the kernel spreads connections) and supervises them:
it alone talks to systemd, validates a new config before forwarding SIGHUP,
and replaces a worker that dies.  Nothing ever forks into the background:
the main process stays in the foreground as systemd's MAINPID.
"""
from __future__ import annotations

import logging
import os
import select
import signal
import socket
import time
from typing import Callable, Iterable

from .. import systemd
from .app import ChipmunkApp
from ..config import ConfigError
from .httpserver import HTTPService, bind_listeners, describe, tls_adapter
from .settings import ServerSettings, load_settings
from ..signals import CHILD_EXITED, RELOAD, TERMINATE, SignalInbox

log = logging.getLogger("chipmunk.server")

SIGNALS = {signal.SIGHUP: RELOAD, signal.SIGTERM: TERMINATE, signal.SIGINT: TERMINATE,
           signal.SIGCHLD: CHILD_EXITED}
#: A worker dying more often than this means something is broken: give up.
MAX_RESPAWNS, RESPAWN_WINDOW = 5, 60.0
EXIT_UNAVAILABLE = 69


def load_checked(path: str) -> ServerSettings:
    """Settings plus a TLS load test, so a reload cannot fail half-way."""
    settings = load_settings(path)
    tls_adapter(settings)
    return settings


def log_warnings(settings: ServerSettings) -> None:
    for warning in settings.warnings:
        log.warning("%s", warning)


def status_line(settings: ServerSettings, addresses: list[str]) -> str:
    users = len(settings.users)
    text = f"Serving on {', '.join(addresses)} for {users} user{'s' * (users != 1)}"
    if settings.workers > 1:
        text += f" with {settings.workers} workers"
    return text + (" over TLS" if settings.tls else "")


class Server:
    def __init__(self, config_path: str, settings: ServerSettings,
                 notifier: systemd.Notifier | None = None) -> None:
        self.config_path = config_path
        self.settings = settings
        self.notifier = notifier or systemd.Notifier()
        #: one list of listening sockets per serving process
        self.socket_sets: list[list[socket.socket]] = []
        self.sockets: list[socket.socket] = []
        self.addresses: list[str] = []
        #: a worker leaves speaking about reloads to the main process
        self.is_worker = False
        self.main_pid = os.getpid()
        self.inbox: SignalInbox | None = None

    def open_sockets(self) -> None:
        inherited = systemd.inherited_sockets()
        if inherited:
            log.info("using %d socket(s) from systemd; [Server] listen is ignored",
                     len(inherited))
            self.socket_sets = [inherited] * self.settings.workers
        else:
            self.socket_sets = bind_listeners(self.settings.listen, self.settings.backlog,
                                              copies=self.settings.workers)
        self.sockets = self.socket_sets[0]
        self.addresses = [describe(sock) for sock in self.sockets]

    def run(self) -> int:
        # Handlers first: a SIGTERM during start-up is then a clean stop.
        self.inbox = SignalInbox(SIGNALS)
        self.open_sockets()
        log.info("listening on %s", ", ".join(self.addresses))
        if self.settings.workers == 1:
            return self._serve(self.inbox, self.notifier)
        return self._supervise(self.inbox)

    # -- serving (the single process, or each worker) --------------------

    def _serve(self, inbox: SignalInbox, notifier: systemd.Notifier) -> int:
        app = ChipmunkApp(self.settings)
        service = HTTPService(self.sockets, app, self.settings)
        service.start()
        notifier.ready(status_line(self.settings, self.addresses))

        def reload() -> ServerSettings:
            settings = load_settings(self.config_path)
            adapter = tls_adapter(settings)
            app.configure(settings)
            service.set_tls(adapter)
            return settings

        self._loop(inbox, notifier, reload)
        notifier.stopping("Stopping: finishing requests in progress")
        service.stop()
        if not self.is_worker:
            log.info("stopped")
        return 0

    def _loop(self, inbox: SignalInbox, notifier: systemd.Notifier,
              reload: Callable[[], ServerSettings],
              on_child_exit: Callable[[], None] | None = None) -> None:
        """Wait for signals; ping the watchdog in between.  Returns on TERMINATE."""
        interval = notifier.watchdog_interval()
        while True:
            request = inbox.wait(interval)
            if request is None:
                notifier.watchdog()
            elif request == TERMINATE:
                return
            elif request == RELOAD:
                notifier.reloading()
                try:
                    new_settings = reload()
                except ConfigError as error:
                    log.error("reload refused, still serving the previous config: %s",
                              error, extra={"CHIPMUNK_EVENT": "reload-failed"})
                else:
                    self._reloaded(new_settings)
                notifier.ready(status_line(self.settings, self.addresses))
            elif request == CHILD_EXITED and on_child_exit is not None:
                on_child_exit()

    def _reloaded(self, settings: ServerSettings) -> None:
        previous, self.settings = self.settings, settings
        if self.is_worker:
            return
        if settings.listen != previous.listen:
            log.warning("[Server] listen changed; it takes effect on restart")
        if settings.workers != previous.workers:
            log.warning("[Server] workers changed; it takes effect on restart")
        log_warnings(settings)
        log.info("reloaded %s: %d users", self.config_path, len(settings.users),
                 extra={"CHIPMUNK_EVENT": "reloaded"})

    # -- supervising workers ----------------------------------------------

    def _supervise(self, inbox: SignalInbox) -> int:
        #: pid -> index of the socket set it serves
        workers: dict[int, int] = {}
        for index in range(self.settings.workers):
            workers[self._spawn(index)] = index
        respawns: list[float] = []
        self.notifier.ready(status_line(self.settings, self.addresses))

        def reload() -> ServerSettings:
            settings = load_checked(self.config_path)
            for pid in workers:
                os.kill(pid, signal.SIGHUP)
            return settings

        def on_child_exit() -> None:
            for pid, status in _reap():
                if pid not in workers:
                    continue
                index = workers.pop(pid)
                log.error("worker %d exited (%s); starting another", pid,
                          _describe_status(status))
                now = time.monotonic()
                respawns[:] = [t for t in respawns if now - t < RESPAWN_WINDOW] + [now]
                if len(respawns) > MAX_RESPAWNS:
                    raise SystemExit("workers keep dying; giving up")
                workers[self._spawn(index)] = index

        try:
            self._loop(inbox, self.notifier, reload, on_child_exit)
        finally:
            self.notifier.stopping("Stopping: waiting for workers")
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            _stop_workers(workers)
        log.info("stopped")
        return 0

    def _spawn(self, index: int) -> int:
        # Signals stay blocked across fork() until the worker has its own
        # inbox: a SIGTERM sent in between would otherwise land in the
        # parent's inbox, copied into the child where nobody reads it.
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        try:
            pid = os.fork()
        finally:
            if os.getpid() == self.main_pid:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
        if pid:
            return pid
        self.sockets = self.socket_sets[index]
        # The worker: serve until SIGTERM; only the main process talks to systemd.
        code = 70
        try:
            self.is_worker = True
            os.environ.pop("NOTIFY_SOCKET", None)
            if self.inbox is not None:
                self.inbox.close()  # the main process's, copied by fork()
            self.inbox = inbox = SignalInbox({signal.SIGHUP: RELOAD, signal.SIGTERM: TERMINATE})
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
            code = self._serve(inbox, systemd.Notifier())
        except BaseException:
            log.exception("worker %d failed", os.getpid())
        finally:
            os._exit(code)


def _reap() -> list[tuple[int, int]]:
    exited = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return exited
        if pid == 0:
            return exited
        exited.append((pid, status))


def _describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


def _stop_workers(workers: Iterable[int], timeout: float = 15.0) -> None:
    """SIGTERM every worker and wait on their pidfds; SIGKILL what outlives ``timeout``."""
    pidfds: dict[int, int] = {}
    for pid in workers:
        try:
            pidfds[os.pidfd_open(pid)] = pid
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while pidfds:
        remaining = deadline - time.monotonic()
        ready = select.select(list(pidfds), [], [], max(remaining, 0))[0]
        if not ready:
            for pid in pidfds.values():
                log.error("worker %d did not stop in %gs; killing it", pid, timeout)
                os.kill(pid, signal.SIGKILL)
            ready = list(pidfds)
        for fd in ready:
            try:
                os.waitpid(pidfds[fd], 0)
            except ChildProcessError:
                pass
            os.close(fd)
            del pidfds[fd]
