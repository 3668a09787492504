"""A second base for providers that speak a JSON HTTP API (Linode, Cloudflare).

What each of them would otherwise repeat lives here once: the session with
Chipmunk's timeout and User-Agent, the bearer token, the service's own error
text, refusals mapped onto :mod:`chipmunk.errors` kinds, the "missing record
and ``create = yes``" branch, and ``close()``.  A provider writes
:meth:`HTTPAPIProvider.read`, :meth:`~HTTPAPIProvider.change` and
:meth:`~HTTPAPIProvider.create`, plus ``error_text`` for its error envelope.
"""
from __future__ import annotations

import abc
from typing import Any, ClassVar

import requests

from ..errors import CredentialsRefused, Misconfigured, TemporaryError
from ..http import HTTPClient, short_body
from .base import Current, DNSProvider, Record


class HTTPAPIProvider(DNSProvider):
    """A provider behind an HTTP API with a bearer token."""

    #: how messages name the service: "Linode"
    service: ClassVar[str]
    #: the option holding the token sent as ``Authorization: Bearer``
    token_option: ClassVar[str] = "api_token"
    #: added to "credentials refused" messages: where to get a working token
    token_hint: ClassVar[str] = ""

    def __init__(self, values: dict[str, Any], timeout: float) -> None:
        super().__init__(values, timeout)
        self.endpoint = values["endpoint"].rstrip("/")
        self.web = HTTPClient(timeout)
        self.web.session.headers["Authorization"] = f"Bearer {values[self.token_option]}"

    def close(self) -> None:
        self.web.close()

    @staticmethod
    def error_text(response: requests.Response) -> str:
        """The service's own explanation in an error answer."""
        return short_body(response)

    def refused(self, response: requests.Response, method: str, path: str) -> Exception:
        """The error for a 4xx answer other than 401/403/429 (those are mapped
        for every peer by HTTPClient): by default the configuration is wrong."""
        return Misconfigured(f"{self.service}: {method} {path} failed "
                             f"({response.status_code}): {self.error_text(response)}")

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request below the endpoint; the decoded JSON answer."""
        try:
            response = self.web.request(method, self.endpoint + path, self.service,
                                        detail=self.error_text, **kwargs)
        except CredentialsRefused as error:
            raise error.with_hint(self.token_hint) from None
        if not response.ok:
            raise self.refused(response, method, path)
        try:
            return response.json()
        except ValueError:
            raise TemporaryError(f"{self.service}: {method} {path}: the answer is not "
                                 "JSON") from None

    def write(self, record: Record, address: str, current: Current) -> None:
        if current.address is not None:
            self.change(record, address, current.handle)
        elif self.values.get("create"):
            self.create(record, address)
        else:
            raise self.missing(record)

    @abc.abstractmethod
    def change(self, record: Record, address: str, handle: Any) -> None:
        """Point the existing record (``handle`` from read()) at ``address``."""

    @abc.abstractmethod
    def create(self, record: Record, address: str) -> None:
        """Make the missing record, pointing at ``address``."""
