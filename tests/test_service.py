"""The one daemon lifecycle, in-process: a fake inbox, a recording notifier, a clock."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from chipmunk.config import ConfigError
from chipmunk.service import Service
from chipmunk.signals import Request
from inprocess import Clock


class Inbox:
    """Hands out queued requests; otherwise lets ``timeout`` pass on the clock."""

    def __init__(self, clock: Clock, *requests: Request) -> None:
        self.clock, self.requests, self.waits = clock, list(requests), []

    def wait(self, timeout: float | None) -> Request | None:
        self.waits.append(timeout)
        if self.requests:
            return self.requests.pop(0)
        self.clock.now += timeout or 0
        return None


class Notifier:
    def __init__(self, watchdog: float | None = None) -> None:
        self.sent: list[str] = []
        self.interval = watchdog

    def ready(self, status: str | None = None) -> None:
        self.sent.append(f"READY=1 {status}")

    def reloading(self) -> None:
        self.sent.append("RELOADING=1")

    def watchdog(self) -> None:
        self.sent.append("WATCHDOG=1")

    def watchdog_interval(self) -> float | None:
        return self.interval


@dataclass
class Settings:
    path: str = "/etc/x.ini"
    warnings: tuple[str, ...] = ()


def service(*requests: Request, watchdog: float | None = None) -> Service:
    clock = Clock()
    return Service(Inbox(clock, *requests), Notifier(watchdog),  # type: ignore[arg-type]
                   lambda: "serving", clock)


def test_a_reload_whose_apply_fails_is_refused_and_ready_follows(caplog):
    running = service()

    def broken(settings: Settings) -> str:
        raise RuntimeError("a bug")

    assert running.reload(Settings, broken) is False
    assert running.notifier.sent == ["RELOADING=1", "READY=1 serving"]
    assert "reload refused, still running the previous configuration: RuntimeError: a bug" \
        in caplog.text


def test_a_bad_configuration_is_refused_and_a_good_one_applied(caplog):
    running = service()

    def bad() -> Settings:
        raise ConfigError("/etc/x.ini", "nope", "Server", "threads", "many")

    assert running.reload(bad, lambda settings: "3 users") is False
    caplog.set_level(logging.INFO)
    assert running.reload(Settings, lambda settings: "3 users") is True
    assert running.notifier.sent == ["RELOADING=1", "READY=1 serving"] * 2
    assert "reloaded /etc/x.ini: 3 users" in caplog.text


def test_wait_pings_the_watchdog_and_returns_at_the_timeout():
    running = service(watchdog=2.0)
    assert running.wait(5.0) is None
    assert running.notifier.sent == ["WATCHDOG=1"] * 3, "after each wait, the last too"
    assert running.inbox.waits == [2.0, 2.0, 1.0]


def test_wait_returns_a_request_at_once():
    running = service(Request.RELOAD)
    assert running.wait(None) is Request.RELOAD
