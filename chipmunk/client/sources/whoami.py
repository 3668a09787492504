"""DNS whoami: a name server that answers a special name with the address
the question came from.

OpenDNS answers ``myip.opendns.com`` A/AAAA at its resolvers, Google's
authoritative servers answer ``o-o.myaddr.l.google.com`` TXT, Cloudflare's
resolvers ``whoami.cloudflare`` CH TXT.  Asked over UDP (TCP when the
answer is truncated) through dnspython, over the family of the server's
address.  A TXT answer may hold other strings (Google adds the
client-subnet it saw): the one that is an address of the family counts.
"""
from __future__ import annotations

import ipaddress
import socket
from typing import TYPE_CHECKING

from . import IPAddress, Source, SourceFailed
from .spec import SourceSpec

if TYPE_CHECKING:
    from ..settings import ClientSettings


class WhoamiSource(Source):
    def __init__(self, spec: SourceSpec, settings: ClientSettings) -> None:
        super().__init__(spec)

    def server_address(self) -> str:
        try:
            ipaddress.ip_address(self.spec.target)
            return self.spec.target
        except ValueError:
            pass
        family = socket.AF_INET if self.spec.family == 4 else socket.AF_INET6
        try:
            found = socket.getaddrinfo(self.spec.target, self.spec.port, family=family,
                                       type=socket.SOCK_DGRAM)
        except socket.gaierror as error:
            raise SourceFailed(f"{self.spec.target} has no {self.family_name} address "
                               f"({error.strerror})") from None
        return str(found[0][4][0])

    def ask(self, timeout: float) -> IPAddress:
        import dns.exception
        import dns.message
        import dns.query
        import dns.rcode
        import dns.rdataclass
        import dns.rdatatype
        spec = self.spec
        rdtype = dns.rdatatype.from_text(spec.rdtype)
        question = dns.message.make_query(spec.name, rdtype, dns.rdataclass.from_text(
            spec.rdclass))
        server = self.server_address()
        try:
            answer, _ = dns.query.udp_with_fallback(question, server, timeout=timeout,
                                                    port=spec.port)
        except dns.exception.Timeout:
            raise SourceFailed(f"no answer from {server} within {timeout:.3g}s") from None
        except (OSError, dns.exception.DNSException) as error:
            raise SourceFailed(f"cannot ask {server}: {error}") from None
        if answer.rcode() != dns.rcode.NOERROR:
            raise SourceFailed(f"{server} answered {dns.rcode.to_text(answer.rcode())} "
                               f"for {spec.name}")
        texts = [text for rrset in answer.answer if rrset.rdtype == rdtype
                 for text in _texts(rrset, rdtype)]
        found = []
        for text in texts:
            try:
                found.append(self.parsed(text, "the answer"))
            except SourceFailed:
                if rdtype != dns.rdatatype.TXT:
                    raise
        if not found:
            shown = ", ".join(texts) or "nothing"
            raise SourceFailed(f"{server} answered {spec.name} {spec.rdtype} with "
                               f"{shown[:100]}, no {self.family_name} address")
        if len(set(found)) > 1:
            raise SourceFailed(f"{server} answered several addresses: "
                               + ", ".join(sorted(map(str, set(found)))))
        return found[0]


def _texts(rrset, rdtype) -> list[str]:
    import dns.rdatatype
    if rdtype == dns.rdatatype.TXT:
        return [b"".join(rdata.strings).decode("ascii", "replace") for rdata in rrset]
    return [rdata.address for rdata in rrset]
