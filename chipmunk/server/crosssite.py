"""Requests a browser sent on another site's behalf: refused where they change state.

A browser keeps a user's Basic credentials once they viewed the status
page, and sends them with any request to this server, whoever started it:
a page elsewhere that redirected the browser to
``/nic/update?hostname=home.example.org&myip=...`` changed the record
(cross-site request forgery).  Routers, ddclient, inadyn, wget and curl
send neither ``Sec-Fetch-Site`` nor ``Origin``; every current browser sends
``Sec-Fetch-Site`` on every request, and ``Origin`` on a form's POST.  So a
request that changes state is refused when

- it carries ``Sec-Fetch-Site`` with any value but ``same-origin``.  Not
  only ``cross-site`` and ``same-site``: a navigation the user started
  (typed, a bookmark, a link opened from a mail program) says ``none`` and
  keeps saying it through a redirect, so a link to another site that
  answers ``302`` to ``/nic/update`` arrives as ``none`` (seen in
  Chromium).  Nothing of this server's own sends a browser to a
  state-changing URL (the status page has no form), so a browser never
  needs to;
- or ``Origin`` names another origin than this server's (``null`` too: a
  sandboxed or privacy-stripped sender is not this server).

This server's origin is ``[Server] public_url``'s when set, else the one the
request itself was addressed to (its scheme, as a trusted proxy reports it,
and its Host).  Nothing here needs a token or a cookie: the API's clients
are programs.
"""
from __future__ import annotations

from urllib.parse import urlsplit

#: the one Sec-Fetch-Site a browser may change state with
OWN_SITE = "same-origin"
DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_key(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin or URL; None when it is not one."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme]


def own_origin(environ: dict, scheme: str, public_url: str | None) -> str:
    """This server's origin, as the request's sender should name it."""
    if public_url:
        parts = urlsplit(public_url)
        return f"{parts.scheme}://{parts.netloc}"
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "localhost")
    return f"{scheme}://{host}"


def refusal(environ: dict, origin: str) -> str | None:
    """Why a state-changing request is refused as cross-site, or None."""
    site = environ.get("HTTP_SEC_FETCH_SITE")
    if site is not None and site.strip().lower() != OWN_SITE:
        return f"Sec-Fetch-Site: {site[:30]}"
    sender = environ.get("HTTP_ORIGIN")
    if sender is not None and _origin_key(sender) != _origin_key(origin):
        return f"Origin: {sender[:100]}"
    return None
