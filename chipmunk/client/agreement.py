"""Believing an address only when enough sources say it.

Each family's sources are asked in parallel under one deadline, the
cheapest first (:data:`~chipmunk.client.sources.spec.COSTS`): as many as
must agree are asked at once, one more whenever an answer fails or
disagrees, and all the rest when no verdict came within the hedge time.
Asking stops once ``needed`` sources name the same address; a question
still running then is abandoned (its thread is a daemon and its own time
limit ends it).  An answer is refused, never believed, when the source
failed, or when it names an address that is not global unicast (private,
shared 100.64.0.0/10, loopback, link-local, documentation) -- unless
``accept_non_global``, or the source is the chipmunk server, whose LAN
answers the original client always believed.

A router that reports a private or shared WAN address while the public
sources agree on another one is behind carrier-grade NAT: :attr:`Verdict.cgnat`
says so in plain words.
"""
from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from ..publicaddress import IPAddress, why_not_public
from .sources import Source, SourceFailed
from .sources.spec import FAMILY_NAMES

#: ask every remaining source when no verdict came within this part of the deadline
HEDGE_SHARE = 0.25
HEDGE_MAX = 1.0
CGNAT_ADVICE = ("port forwarding on your router will not reach you: your provider shares "
                "your address")


@dataclass
class Answer:
    """What one source said, and what was made of it."""

    source: str
    kind: str
    is_router: bool
    #: the address it named, believed or not
    said: str | None = None
    believed: bool = False
    #: why it was not believed (a failure or a refused address)
    error: str | None = None
    seconds: float | None = None
    asked: bool = False

    def verdict(self, agreed: str | None) -> str:
        if not self.asked:
            return "not asked: enough sources agreed" if agreed else "not asked"
        if self.seconds is None:
            return "no answer before the verdict" if agreed else "no answer in time"
        if self.error:
            return f"{'refused' if self.said else 'failed'}: {self.error}"
        if agreed is None:
            return "believed; no agreement"
        return "agrees" if self.said == agreed else f"disagrees with {agreed}"

    @property
    def failed(self) -> bool:
        return self.asked and not self.believed


@dataclass
class Verdict:
    family: int
    needed: int
    answers: list[Answer]
    address: str | None = None
    seconds: float = 0.0

    @property
    def family_name(self) -> str:
        return FAMILY_NAMES[self.family]

    @property
    def disagreeing(self) -> list[Answer]:
        return [a for a in self.answers if a.believed and a.said != self.address]

    @property
    def outcome(self) -> str:
        """The verdict in a few words."""
        if self.address is not None:
            return self.address
        believed = Counter(a.said for a in self.answers if a.believed)
        head = "the sources disagree" if len(believed) > 1 else "too few sources answered"
        return f"none: {head} ({self.needed} must agree), nothing published"

    @property
    def problem(self) -> str | None:
        """Why no address was agreed, naming each source and what it said."""
        if self.address is not None:
            return None
        said = "; ".join(f"{a.source} {_said(a)}" for a in self.answers if a.asked)
        return f"{self.family_name}: {self.outcome.removeprefix('none: ')}: " \
            f"{said or 'none asked'}"

    @property
    def cgnat(self) -> str | None:
        """The carrier-grade NAT diagnosis, when the router shows it."""
        if self.address is None:
            return None
        for answer in self.answers:
            if not (answer.is_router and answer.said and answer.said != self.address):
                continue
            if why_not_public(_address(answer.said)) is not None:
                return (f"carrier-grade NAT: the router's WAN address is {answer.said} "
                        f"({answer.source}) but the internet sees {self.address}; "
                        f"{CGNAT_ADVICE}")
        return None


def _said(answer: Answer) -> str:
    if answer.seconds is None:
        return "did not answer in time"
    if answer.error:
        return f"failed: {answer.error}"
    return f"said {answer.said}"


def _address(text: str) -> IPAddress:
    import ipaddress
    return ipaddress.ip_address(text)


@dataclass
class Poll:
    """The asking of one family's sources."""

    family: int
    sources: list[Source]
    needed: int
    accept_non_global: bool
    answers: dict[int, Answer] = field(default_factory=dict)
    waiting: list[int] = field(default_factory=list)
    running: set[int] = field(default_factory=set)
    address: str | None = None

    def __post_init__(self) -> None:
        order = sorted(range(len(self.sources)), key=lambda i: self.sources[i].cost)
        self.waiting = order
        for index, source in enumerate(self.sources):
            self.answers[index] = Answer(source.spec.text, source.spec.kind,
                                         source.spec.is_router)

    @property
    def done(self) -> bool:
        if self.address is not None:
            return True
        best = max(Counter(a.said for a in self.answers.values() if a.believed).values(),
                   default=0)
        return best + len(self.running) + len(self.waiting) < self.needed

    def launch(self, count: int, results: queue.SimpleQueue, deadline: float) -> None:
        for _ in range(min(count, len(self.waiting))):
            index = self.waiting.pop(0)
            self.running.add(index)
            self.answers[index].asked = True
            threading.Thread(target=_ask, args=(self, index, deadline, results), daemon=True,
                             name=f"source {self.sources[index].spec.text}"[:60]).start()

    def keep_enough_running(self, results: queue.SimpleQueue, deadline: float) -> None:
        """Keep as many questions open as answers are still missing."""
        believed = Counter(a.said for a in self.answers.values() if a.believed)
        missing = self.needed - max(believed.values(), default=0)
        self.launch(missing - len(self.running), results, deadline)

    def receive(self, index: int, outcome: IPAddress | str, seconds: float) -> None:
        self.running.discard(index)
        answer = self.answers[index]
        answer.seconds = seconds
        if isinstance(outcome, str):
            answer.error = outcome
            return
        answer.said = str(outcome)
        why = why_not_public(outcome)
        if why and not (self.accept_non_global
                        or self.sources[index].trusted_when_not_global):
            answer.error = f"{outcome} {why}"
            return
        answer.believed = True
        if sum(1 for a in self.answers.values()
               if a.believed and a.said == answer.said) >= self.needed:
            self.address = answer.said

    def verdict(self, seconds: float) -> Verdict:
        return Verdict(self.family, self.needed, list(self.answers.values()), self.address,
                       seconds)


def _ask(poll: Poll, index: int, deadline: float, results: queue.SimpleQueue) -> None:
    source = poll.sources[index]
    began = time.monotonic()
    outcome: IPAddress | str
    try:
        outcome = source.ask(max(deadline - began, 0.05))
    except SourceFailed as error:
        outcome = str(error)
    except Exception as error:  # a source's bug must not take the check down
        outcome = f"unexpected error: {error!r}"
    results.put((poll, index, outcome, time.monotonic() - began))


def agree(polls: list[Poll], timeout: float) -> list[Verdict]:
    """Ask every poll's sources; one verdict per poll within ``timeout``."""
    results: queue.SimpleQueue = queue.SimpleQueue()
    began = time.monotonic()
    deadline = began + timeout
    hedge_at = began + min(timeout * HEDGE_SHARE, HEDGE_MAX)
    hedged = False
    for poll in polls:
        poll.keep_enough_running(results, deadline)
    while not all(poll.done for poll in polls):
        now = time.monotonic()
        if now >= deadline:
            break
        wait = deadline - now if hedged else max(min(deadline, hedge_at) - now, 0.0)
        try:
            poll, index, outcome, seconds = results.get(timeout=wait)
        except queue.Empty:
            if not hedged and time.monotonic() >= hedge_at:
                hedged = True
                for poll in polls:
                    if not poll.done:
                        poll.launch(len(poll.waiting), results, deadline)
            continue
        poll.receive(index, outcome, seconds)
        if not poll.done:
            poll.keep_enough_running(results, deadline)
    seconds = time.monotonic() - began
    return [poll.verdict(seconds) for poll in polls]
