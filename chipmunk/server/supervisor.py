"""The main process when ``workers`` > 1: fork, reap, respawn, reload, stop.

The supervisor binds nothing itself (the sockets are opened before it
starts) and serves nothing: it forks one :class:`Worker` per socket set and
is the only process that talks to systemd.  A reload is done when every
worker says so: the supervisor checks the new file, sends SIGHUP to each
worker, waits until each has acknowledged it with the file's digest (or has
died, or ``ACK_TIMEOUT`` passed, and then names the stragglers), and only
then sends ``READY=1``.  Nothing ever forks into the background: this
process stays in the foreground as systemd's MAINPID.
"""
from __future__ import annotations

import ctypes
import logging
import os
import select
import signal
import socket
import time
from dataclasses import dataclass

from ..cli import ExitCode
from ..events import Event, log_event
from ..service import Service
from ..signals import Request, SignalInbox
from ..systemd import Notifier
from . import metrics
from .checks import load_checked, status_text, summary, warn_about_restart_only
from .serverwide import ServerWide
from .settings import ServerSettings
from .worker import REFUSED, Worker

log = logging.getLogger(__name__)

WORKER_SIGNALS: dict[int, Request] = {signal.SIGHUP: Request.RELOAD,
                                      signal.SIGTERM: Request.TERMINATE}
#: every signal either process acts on
BLOCKED_ACROSS_FORK = {signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGCHLD}
#: A worker dying more often than this means something is broken: give up.
MAX_RESPAWNS, RESPAWN_WINDOW = 5, 60.0
#: How long a reload waits for the workers' acknowledgements.
ACK_TIMEOUT = 10.0
STOP_TIMEOUT = 15.0


@dataclass
class WorkerProcess:
    pid: int
    #: which socket set it serves
    index: int
    #: readable once the process has exited
    pidfd: int


class Supervisor:
    def __init__(self, config_path: str, settings: ServerSettings,
                 socket_sets: list[list[socket.socket]], addresses: list[str],
                 inbox: SignalInbox, notifier: Notifier, shared: ServerWide,
                 metrics_sets: list[list[socket.socket]]) -> None:
        self.config_path = config_path
        self.settings = settings
        self.socket_sets = socket_sets
        self.metrics_sets = metrics_sets
        self.addresses = addresses
        self.shared = shared
        self.service = Service(inbox, notifier, self.status_text)
        self.workers: dict[int, WorkerProcess] = {}
        self.main_pid = os.getpid()
        self._respawns: list[float] = []
        # Workers send acknowledgements on one end; the supervisor reads the other.
        self.acks_in, self.acks_out = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.acks_in.setblocking(False)

    def status_text(self) -> str:
        return status_text(self.settings, self.addresses)

    def run(self) -> int:
        for index in range(len(self.socket_sets)):
            self._spawn(index)
        metrics.METRICS.workers(len(self.workers))
        self.service.ready()
        try:
            while (request := self.service.wait(None)) is not Request.TERMINATE:
                if request is Request.RELOAD:
                    self.service.reload(lambda: load_checked(self.config_path),
                                        self._reload_workers)
                elif request is Request.CHILD_EXITED:
                    self._respawn_exited()
        finally:
            self.service.stopping("Stopping: waiting for workers")
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            self._stop_workers()
        log.info("stopped")
        return ExitCode.OK

    # -- reload --------------------------------------------------------------

    def _reload_workers(self, settings: ServerSettings) -> str:
        warn_about_restart_only(self.settings, settings)
        # A worker started from now on starts with the new configuration.
        self.settings = settings
        self._drain_acks()
        for worker in self.workers.values():
            os.kill(worker.pid, signal.SIGHUP)
        stragglers = self._await_acks(settings.digest)
        if stragglers:
            log.warning("reload: worker(s) %s did not confirm within %gs; they may "
                        "still serve the previous configuration",
                        ", ".join(map(str, sorted(stragglers))), ACK_TIMEOUT)
        return f"{summary(settings)}, {len(self.workers)} workers"

    def _drain_acks(self) -> None:
        """Forget acknowledgements left from an earlier reload."""
        while True:
            try:
                self.acks_in.recv(256)
            except BlockingIOError:
                return

    def _await_acks(self, digest: str) -> set[int]:
        """Wait until every worker acknowledged ``digest`` or exited; the rest."""
        pending = set(self.workers)
        deadline = time.monotonic() + ACK_TIMEOUT
        while pending and (remaining := deadline - time.monotonic()) > 0:
            pidfds = {self.workers[pid].pidfd: pid for pid in pending}
            acks = self.acks_in.fileno()
            ready, _, _ = select.select([acks, *pidfds], [], [], remaining)
            for item in ready:
                if item == acks:
                    self._take_acks(pending, digest)
                else:  # exited: its replacement starts with the new configuration
                    pending.discard(pidfds[item])
        return pending

    def _take_acks(self, pending: set[int], digest: str) -> None:
        while True:
            try:
                pid_text, _, what = self.acks_in.recv(256).decode("ascii").partition(" ")
            except BlockingIOError:
                return
            pid = int(pid_text)
            if pid not in pending:
                continue
            pending.discard(pid)
            if what == REFUSED:
                log.warning("reload: worker %d refused the new configuration", pid)
            elif what != digest:
                log.warning("reload: worker %d loaded %s after it changed again; "
                            "reload once more", pid, self.config_path)

    # -- workers -------------------------------------------------------------

    def _spawn(self, index: int) -> None:
        # Signals stay blocked across fork() until the worker has its own
        # inbox: a SIGTERM sent in between would otherwise land in the
        # parent's inbox, copied into the child where nobody reads it.
        signal.pthread_sigmask(signal.SIG_BLOCK, BLOCKED_ACROSS_FORK)
        try:
            pid = os.fork()
        finally:
            if os.getpid() == self.main_pid:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, BLOCKED_ACROSS_FORK)
        if pid:
            self.workers[pid] = WorkerProcess(pid, index, os.pidfd_open(pid))
            return
        code: int = ExitCode.SOFTWARE
        try:
            code = self._become_worker(index)
        except BaseException:
            log.exception("worker %d failed", os.getpid())
        finally:
            os._exit(code)

    def _become_worker(self, index: int) -> int:
        """In the forked child: drop the supervisor's duties, then serve."""
        if not stop_when_parent_dies(self.main_pid):
            return ExitCode.OK  # nobody to serve for
        os.environ.pop("NOTIFY_SOCKET", None)
        self.service.inbox.close()  # the supervisor's, copied by fork()
        inbox = SignalInbox(WORKER_SIGNALS)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, BLOCKED_ACROSS_FORK)
        self.acks_in.close()
        for worker in self.workers.values():
            os.close(worker.pidfd)
        serving = Worker(self.config_path, self.settings, self.socket_sets[index],
                         self.addresses, inbox, Notifier(enabled=False), self.shared,
                         acks=self.acks_out, metrics_sockets=self.metrics_sets[index])
        return serving.run()

    def _respawn_exited(self) -> None:
        for worker in list(self.workers.values()):
            try:
                pid, status = os.waitpid(worker.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = worker.pid, 0
            if pid == 0:
                continue
            del self.workers[worker.pid]
            os.close(worker.pidfd)
            metrics.METRICS.worker_gone(worker.pid)
            log_event(log, Event.WORKER_DIED, f"worker {worker.pid} exited "
                      f"({_describe_exit(status)}); starting another",
                      {"CHIPMUNK_WORKER": str(worker.pid)}, logging.ERROR)
            now = time.monotonic()
            self._respawns = [t for t in self._respawns if now - t < RESPAWN_WINDOW] + [now]
            if len(self._respawns) > MAX_RESPAWNS:
                raise SystemExit("workers keep dying; giving up")
            self._spawn(worker.index)
            metrics.METRICS.respawned()
            metrics.METRICS.workers(len(self.workers))

    def _stop_workers(self) -> None:
        """SIGTERM every worker, wait on their pidfds, SIGKILL what outlives the timeout."""
        for worker in self.workers.values():
            try:
                os.kill(worker.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + STOP_TIMEOUT
        pending = {worker.pidfd: worker.pid for worker in self.workers.values()}
        while pending:
            remaining = max(deadline - time.monotonic(), 0)
            ready = select.select(list(pending), [], [], remaining)[0]
            if not ready:
                for pid in pending.values():
                    log.error("worker %d did not stop in %gs; killing it", pid, STOP_TIMEOUT)
                    os.kill(pid, signal.SIGKILL)
                ready = list(pending)
            for pidfd in ready:
                try:
                    os.waitpid(pending[pidfd], 0)
                except ChildProcessError:
                    pass
                os.close(pidfd)
                del pending[pidfd]
        self.workers.clear()


#: prctl(2)'s option number, from <linux/prctl.h>
PR_SET_PDEATHSIG = 1


def stop_when_parent_dies(parent: int) -> bool:
    """Have the kernel send this process SIGTERM when ``parent`` dies; False
    when it already has.

    A supervisor killed with SIGKILL (the OOM killer, ``kill -9`` outside
    systemd) left its workers serving: they hold the port with SO_REUSEPORT,
    beside the next server, with the old config and revoked users.  With
    ``PR_SET_PDEATHSIG`` a worker gets SIGTERM and stops as on any SIGTERM.
    The parent may have died before the call: then it stops at once.  (The
    signal is tied to the thread that forked; the supervisor forks from its
    main thread, which lives as long as it does.)  One prctl(2) call through
    ctypes: python3-prctl would be a dependency for a single syscall.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    return os.getppid() == parent


def _describe_exit(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"
