"""One cycle's discovery of the public address, per family.

A family with sources in ``[Discovery]`` (or, when no chipmunk server is
configured, the public defaults) is decided by agreement
(:mod:`chipmunk.client.agreement`).  A family without keeps the original
behaviour: IPv4 (and IPv6, when the endpoint is reached over IPv6) from the
chipmunk server; IPv6 from ``endpoint6`` (always a plain get, so the ``.cm``
file keeps the main address) or a local interface, as ``[Global]
ipv6_source`` says.  The default IPv6 sources are asked only where this
machine has a global IPv6 address: an IPv4-only host is not an error every
check.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..errors import Misconfigured, TemporaryError, UpdateError
from ..http import HTTPClient
from .agreement import Poll, Verdict, agree
from .chipmunkserver import discover, record_type
from .local_ipv6 import IF_INET6, SCOPE_GLOBAL, parse_if_inet6, stable_ipv6
from .settings import ClientSettings
from .sources import Source, build_source
from .sources.spec import RECORD_TYPES

log = logging.getLogger(__name__)


@dataclass
class Discovered:
    """What one cycle learned: an address per record type, and what failed."""

    addresses: dict[str, str] = field(default_factory=dict)
    errors: list[UpdateError] = field(default_factory=list)
    #: the agreement of each family asked through [Discovery] sources
    verdicts: list[Verdict] = field(default_factory=list)


def has_global_ipv6() -> bool:
    try:
        listed = parse_if_inet6(IF_INET6.read_text())
    except OSError:
        return False
    return any(entry.scope == SCOPE_GLOBAL for entry in listed)


class Discovery:
    """The sources of one loaded configuration, built once and asked each cycle."""

    def __init__(self, settings: ClientSettings, web: HTTPClient) -> None:
        self.settings = settings
        self.web = web
        self.sources: dict[int, list[Source]] = {}
        for family in (4, 6):
            specs = settings.sources_for(family)
            if specs is not None:
                self.sources[family] = [build_source(spec, settings) for spec in specs]

    def close(self) -> None:
        for sources in self.sources.values():
            for source in sources:
                source.close()

    def polls(self) -> list[Poll]:
        polls = []
        for family, sources in self.sources.items():
            if family == 6 and self.settings.ipv6_defaulted and not has_global_ipv6():
                log.debug("no global IPv6 address here: IPv6 is not asked")
                continue
            polls.append(Poll(family, sources, self.settings.needed(family),
                              self.settings.accept_non_global))
        return polls

    def verdicts(self) -> list[Verdict]:
        return agree(self.polls(), self.settings.discovery_timeout)

    def __call__(self, settings: ClientSettings, web: HTTPClient) -> Discovered:
        return self.run()

    def run(self, journal: bool = True) -> Discovered:
        """Every family's address; ``journal``: log each failure and verdict."""
        settings = self.settings
        found = Discovered()
        if settings.sources_for(4) is None:
            self._from_server(found)
        if settings.sources_for(6) is None:
            self._ipv6_as_configured(found)
        else:
            found.addresses.pop("AAAA", None)
        found.verdicts = self.verdicts()
        for verdict in found.verdicts:
            if journal:
                report(verdict)
            if verdict.address is None:
                found.errors.append(TemporaryError(verdict.problem or ""))
            else:
                found.addresses[RECORD_TYPES[verdict.family]] = verdict.address
        return found

    def _from_server(self, found: Discovered) -> None:
        try:
            address = discover(self.settings, self.web)
            found.addresses[record_type(address)] = str(address)
        except UpdateError as error:
            found.errors.append(error)

    def _ipv6_as_configured(self, found: Discovered) -> None:
        settings = self.settings
        source = settings.ipv6_source
        if source == "server" and settings.endpoint6:
            try:
                address = discover(settings, self.web, settings.endpoint6, method="get")
            except UpdateError as error:
                found.errors.append(error)
            else:
                if address.version != 6:
                    found.errors.append(Misconfigured(
                        f"chipmunk server: endpoint6 {settings.endpoint6} was reached over "
                        f"IPv4 (it answered {address}); give it an IPv6-only name or "
                        "address"))
                else:
                    found.addresses["AAAA"] = str(address)
        elif source.startswith("interface:"):
            try:
                found.addresses["AAAA"] = str(stable_ipv6(source.split(":", 1)[1]))
            except LookupError as error:
                found.errors.append(TemporaryError(f"[Global] ipv6_source = {source}: "
                                                   f"{error}"))
        elif source == "none":
            found.addresses.pop("AAAA", None)


def report(verdict: Verdict) -> None:
    """The journal's account of one family's agreement: each failing source,
    each source that named another address, the diagnosis."""
    for answer in verdict.answers:
        if answer.asked and answer.seconds is not None and answer.error:
            log.warning("%s source %s failed: %s", verdict.family_name, answer.source,
                        answer.error)
    if verdict.address is None:
        log.warning("%s", verdict.problem)
        return
    for answer in verdict.disagreeing:
        log.warning("%s source %s said %s, but %d sources agree on %s: not believed",
                    verdict.family_name, answer.source, answer.said, verdict.needed,
                    verdict.address)
    if verdict.cgnat:
        log.warning("%s", verdict.cgnat)
    log.debug("%s: %s agreed by %d source(s) in %.3f s", verdict.family_name,
              verdict.address, verdict.needed, verdict.seconds)
