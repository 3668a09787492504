"""The dyndns2 protocol that No-IP, Dynu, DNS-O-Matic, many routers' services
and others speak: ``GET /nic/update?hostname=...&myip=...`` with Basic auth.

The protocol cannot read a record, so an update is sent only when one is due
(the address changed, the last update failed, or the forced refresh) --
never to provoke ``nochg``.  Answers that mean a person must act stop the
record until its configuration changes; ``dnserr`` and ``911`` are retried
no sooner than 30 minutes later, as the protocol asks.
"""
from __future__ import annotations

from typing import Any

from ..config import Option
from ..converters import to_hostnames, to_nonempty_text, url
from ..errors import CredentialsRefused, Misconfigured, RefusedByService, TemporaryError
from ..http import HTTPClient, short_body
from .base import Current, DNSProvider, Record

SERVER_TROUBLE_RETRY = 1800.0
#: answer code -> (what kind of failure, what it means)
STOP = {
    "badauth": (CredentialsRefused, "the username or password is wrong"),
    "!donator": (RefusedByService, "the account lacks a paid feature this update needs"),
    "abuse": (RefusedByService, "the service blocked this hostname for abuse; see its "
              "website"),
    "notfqdn": (Misconfigured, "the hostname is not a fully qualified domain name"),
    "nohost": (Misconfigured, "the hostname does not exist in this account"),
    "numhost": (Misconfigured, "too many hostnames in one update"),
    "badagent": (RefusedByService, "the service refuses this client (User-Agent)"),
}


to_base_url = url(example="https://dynupdate.no-ip.com")


class DynDNS2Provider(DNSProvider):
    name = "dyndns2"
    readable = False
    options = (
        Option("host", to_hostnames, None, aliases=("hostname",), help=(
            "Host names to update, comma-separated.")),
        Option("server", to_base_url, None, help=(
            "The service's base URL; /nic/update is appended.")),
        Option("username", to_nonempty_text, None, help="Your user name."),
        Option("password", to_nonempty_text, None, secret=True, help=(
            "Your password or update key.")),
    )

    def __init__(self, values: dict[str, Any], timeout: float) -> None:
        super().__init__(values, timeout)
        self.web = HTTPClient(timeout)
        self.web.session.auth = (values["username"], values["password"])

    def close(self) -> None:
        self.web.close()

    def write(self, record: Record, address: str, current: Current) -> None:
        field = "myip" if record.rtype == "A" else "myipv6"
        response = self.web.request("GET", f"{self.values['server']}/nic/update",
                                    "dyndns2", params={"hostname": record.name,
                                                       field: address})
        answer = response.text.strip()
        code = answer.split()[0] if answer else ""
        if response.status_code == 200 and code in ("good", "nochg"):
            return
        if code in STOP:
            kind, meaning = STOP[code]
            raise kind(f"dyndns2: {record.name}: {code}: {meaning}")
        if code in ("dnserr", "911"):
            raise TemporaryError(f"dyndns2: {record.name}: {code}: trouble at the "
                                 "service; retrying in 30 minutes",
                                 retry_after=SERVER_TROUBLE_RETRY)
        raise TemporaryError(f"dyndns2: {record.name}: unexpected answer "
                             f"({response.status_code}): {short_body(response)!r}")
