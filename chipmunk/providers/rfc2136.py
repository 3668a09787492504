"""Dynamic DNS UPDATE (RFC 2136) with TSIG, through dnspython.

The current rrset is read from the primary first, over TCP, and an update is
sent only when it differs; the update replaces the name's whole A or AAAA
rrset in one message.  Refusals (REFUSED, NOTAUTH, a bad key or signature)
need a person; SERVFAIL and timeouts are temporary.

dnspython is imported inside the methods: ``chipmunk-client providers`` and
the sample config load every built-in provider, and should not pay for
importing it.
"""
from __future__ import annotations

import base64
import binascii
import socket
from typing import Any

from ..config import Option
from ..converters import bounded_int, to_nonempty_text
from ..errors import CredentialsRefused, Misconfigured, TemporaryError
from .base import Current, DNSProvider, Record

ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1",
              "hmac-md5")


def to_algorithm(text: str) -> str:
    value = text.strip().lower()
    if value not in ALGORITHMS:
        raise ValueError(f"expected one of {', '.join(ALGORITHMS)}")
    return value


def to_base64_secret(text: str) -> str:
    try:
        base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("expected the key's secret in base64 (as in a BIND key file)") \
            from None
    return text.strip()


class RFC2136Provider(DNSProvider):
    name = "rfc2136"
    shared = ("zone", "host")
    options = (
        Option("server", to_nonempty_text, None, help=(
            "The zone's primary server (address or name) that accepts updates.")),
        Option("port", bounded_int(1, 65535), "53", help="Its DNS port."),
        Option("ttl", bounded_int(0, 2147483647), "300", help=(
            "TTL of the records it writes (an update must give one).")),
        Option("key_name", to_nonempty_text, None, help="The TSIG key's name."),
        Option("key_algorithm", to_algorithm, "hmac-sha256", help=(
            "The TSIG key's algorithm.")),
        Option("key_secret", to_base64_secret, None, secret=True, help=(
            "The TSIG key's secret, base64, as in a BIND key file.")),
    )

    def __init__(self, values: dict[str, Any], timeout: float) -> None:
        super().__init__(values, timeout)
        try:
            import dns.name
        except ImportError:
            raise Misconfigured("rfc2136 needs dnspython (apt install python3-dnspython)") \
                from None
        self.origin = dns.name.from_text(values["zone"])

    def _server(self) -> str:
        try:
            return str(socket.getaddrinfo(self.values["server"], self.values["port"],
                                          proto=socket.IPPROTO_TCP)[0][4][0])
        except socket.gaierror as error:
            raise TemporaryError(f"rfc2136: cannot resolve {self.values['server']}: "
                                 f"{error.strerror}") from None

    def _keyring(self):
        import dns.tsig
        return dns.tsig.Key(self.values["key_name"], self.values["key_secret"],
                            self.values["key_algorithm"])

    def _exchange(self, message, what: str):
        """Send ``message`` over TCP; map every failure to our error classes."""
        import dns.exception
        import dns.message
        import dns.query
        import dns.rcode
        import dns.tsig
        server = self._server()
        try:
            response = dns.query.tcp(message, server, port=self.values["port"],
                                     timeout=self.timeout)
        except dns.exception.Timeout:
            raise TemporaryError(f"rfc2136: {what}: no answer from {server} port "
                                 f"{self.values['port']} within {self.timeout:g}s") from None
        except (dns.tsig.PeerError, dns.message.UnknownTSIGKey, dns.message.BadTSIG,
                dns.tsig.BadSignature) as error:
            raise CredentialsRefused(
                f"rfc2136: {what}: the server refused the TSIG key "
                f"{self.values['key_name']!r}: {type(error).__name__}: "
                f"{error or 'check key_name, key_algorithm and key_secret'}") from None
        except (OSError, EOFError) as error:
            raise TemporaryError(f"rfc2136: {what}: cannot reach {server} port "
                                 f"{self.values['port']}: {error}") from None
        except dns.exception.DNSException as error:
            raise TemporaryError(f"rfc2136: {what}: {type(error).__name__}: {error}") \
                from None
        rcode = response.rcode()
        if rcode in (dns.rcode.REFUSED, dns.rcode.NOTAUTH, dns.rcode.NOTZONE):
            raise CredentialsRefused(f"rfc2136: {what}: {dns.rcode.to_text(rcode)} from "
                                     f"{server}: the key may not update this name, or "
                                     f"{self.values['zone']} is not a zone it serves")
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise TemporaryError(f"rfc2136: {what}: {dns.rcode.to_text(rcode)} from {server}")
        return response

    def read(self, record: Record) -> Current:
        import dns.message
        import dns.name
        import dns.rdataclass
        import dns.rdatatype
        name = dns.name.from_text(record.name)
        query = dns.message.make_query(name, record.rtype)
        query.use_tsig(self._keyring())
        response = self._exchange(query, f"reading {record.name} {record.rtype}")
        rrset = response.get_rrset(response.answer, name, dns.rdataclass.IN,
                                   dns.rdatatype.from_text(record.rtype))
        if rrset is None:
            return Current(None)
        return Current(" ".join(sorted(rdata.to_text() for rdata in rrset)))

    def write(self, record: Record, address: str, current: Current) -> None:
        import dns.name
        import dns.update
        update = dns.update.UpdateMessage(self.origin, keyring=self._keyring())
        update.replace(dns.name.from_text(record.name), self.values["ttl"], record.rtype,
                       address)
        self._exchange(update, f"updating {record.name} {record.rtype}")

    def write_txt(self, name: str, values: list[str]) -> None:
        import dns.name
        import dns.rdata
        import dns.rdataclass
        import dns.rdatatype
        import dns.rrset
        import dns.update
        update = dns.update.UpdateMessage(self.origin, keyring=self._keyring())
        owner = dns.name.from_text(name)
        if values:
            rrset = dns.rrset.RRset(owner, dns.rdataclass.IN, dns.rdatatype.TXT)
            for value in values:
                rrset.add(dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT,
                                              f'"{value}"'), self.values["ttl"])
            update.replace(owner, rrset)
        else:
            update.delete(owner, "TXT")
        self._exchange(update, f"setting {name} TXT")
