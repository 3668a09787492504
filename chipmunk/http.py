"""HTTP for the client and the providers: timeouts, User-Agent, error classes.

Every request has a timeout.  Failures become :mod:`chipmunk.errors`
exceptions the same way for every peer: no connection, timeouts, 429 and 5xx
are temporary; 401 and 403 mean the credentials were refused; a TLS
verification failure needs a person.  The peer's own error text is kept,
because it is usually the most precise explanation there is.

requests is imported when an HTTPClient is made, not with this module: the
provider registry imports every built-in provider, and chipmunk-server
(which publishes through rfc2136, say) does not depend on requests.
"""
from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from . import __version__
from .errors import CredentialsRefused, Misconfigured, TemporaryError, UntrustedPeer, UpdateError

if TYPE_CHECKING:
    import requests

USER_AGENT = f"chipmunk/{__version__} (dynamic DNS client)"
DetailFn = Callable[["requests.Response"], str]
INSTALL_HINT = "apt install python3-requests, or pip install 'chipmunk[client]'"


def short_body(response: requests.Response) -> str:
    text = " ".join(response.text.split())
    return text[:200] + ("…" if len(text) > 200 else "")


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds or an HTTP date (RFC 9110); None if absent or bad."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def refuses(status: int) -> bool:
    """Whether :func:`status_error` has an error for ``status``."""
    return status == 429 or status >= 500 or status in (401, 403)


def status_error(status: int, retry_after: str | None, service: str, text: str,
                 host: str = "") -> UpdateError | None:
    """The one table of what an HTTP status means for an update: 429 and
    5xx are temporary (429 with its Retry-After), 401 and 403 refuse the
    credentials; None: the caller reads the answer (2xx, 404, 400...)."""
    if status == 429:
        wait = retry_after_seconds(retry_after)
        return TemporaryError(f"{service}: rate limited (429){_wait_text(wait)}: {text}",
                              retry_after=wait)
    if status >= 500:
        return TemporaryError(f"{service}: {host + ' ' if host else ''}answered {status}: "
                              f"{text}")
    if status in (401, 403):
        return CredentialsRefused(f"{service}: credentials refused ({status}): {text}")
    return None


class HTTPClient:
    """A requests session with Chipmunk's timeouts and error rules."""

    def __init__(self, timeout: float, verify: bool | str = True,
                 tls_hint: str = "", family: int | None = None) -> None:
        """Misconfigured when requests is not installed (its install command said).

        ``family`` (4 or 6) connects over that IP version only and ignores
        proxy settings: a source of the public address must see this
        machine's own connection, not a proxy's, of the family asked.
        """
        try:
            import requests
        except ModuleNotFoundError:
            raise Misconfigured(f"HTTP needs the requests library: {INSTALL_HINT}") from None
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        if family is not None:
            self.session.trust_env = False
            adapter = _family_adapter(requests, family)
            self.session.mount("http://", adapter)
            self.session.mount("https://", adapter)
        # Passed with every request: requests lets REQUESTS_CA_BUNDLE and
        # CURL_CA_BUNDLE override a session-wide verify setting.
        self.verify = verify
        self.tls_hint = tls_hint

    def request(self, method: str, url: str, service: str,
                detail: DetailFn = short_body, timeout: float | None = None,
                **kwargs) -> requests.Response:
        """Send; raise TemporaryError or PermanentError for unusable answers.

        Returns responses with any other status (2xx, 404, 400, ...) for the
        caller to interpret, their body unread (``stream=True`` keeps it so).
        ``timeout`` replaces the client's for this one.
        """
        import requests
        timeout = self.timeout if timeout is None else timeout
        host = urlsplit(url).netloc.rpartition("@")[2]
        try:
            response = self.session.request(method, url, timeout=timeout,
                                            verify=self.verify, allow_redirects=False,
                                            **kwargs)
        except requests.exceptions.SSLError as error:
            raise UntrustedPeer(f"{service}: TLS verification of {host} failed "
                                f"({_reason(error)}){self.tls_hint}") from None
        except requests.Timeout:
            raise TemporaryError(f"{service}: no answer from {host} within "
                                 f"{timeout:.3g}s") from None
        except requests.RequestException as error:
            raise TemporaryError(f"{service}: cannot reach {host}: {_reason(error)}") \
                from None
        # the body is read here only to explain a refusal
        refused = status_error(response.status_code, response.headers.get("Retry-After"),
                               service, detail(response), host) \
            if refuses(response.status_code) else None
        if refused is not None:
            raise refused
        return response

    def close(self) -> None:
        self.session.close()


def _family_adapter(requests, family: int):
    """A transport adapter whose connections bind to the family's wildcard
    address: urllib3 then tries only that family's addresses of a name (a
    socket of the other family cannot bind it and is skipped), in urllib3
    1.26 as in 2.x, without touching its process-wide settings."""
    wildcard = "0.0.0.0" if family == 4 else "::"

    class FamilyAdapter(requests.adapters.HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            kwargs["source_address"] = (wildcard, 0)
            super().init_poolmanager(*args, **kwargs)

    return FamilyAdapter()


def _wait_text(wait: float | None) -> str:
    return f", retry after {wait:g}s" if wait is not None else ""


def _reason(error: Exception) -> str:
    """The useful part of a requests/urllib3 error ("[Errno 111] Connection
    refused", "certificate verify failed: ...") without the pool noise."""
    text = str(error)
    for pattern in (r"\[Errno -?\d+\] [^'\")]+", r"certificate verify failed: [^'\"(]+",
                    r"hostname mismatch[^'\"]*", r"[A-Z_]*ERROR[^'\"]*"):
        match = re.search(pattern, text)
        if match:
            return match.group(0).strip()
    return text
