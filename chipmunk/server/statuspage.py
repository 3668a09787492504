"""``GET /``: the logged-in user's status, as a small HTML page or plain text.

What a person wants to see: the address this request came from, the one
stored for them (``<user>.cm``), their hostnames with the address each
provider last confirmed and how long ago, when this server last changed
it, and a ready-to-copy update URL for a router -- never with the password,
never another user's names.  The page asks no provider anything: it shows
the publisher's known state (a user with 20 names refreshing the page cost
40 DNS queries a view, and hosted APIs' rate limits).

The page needs no JavaScript and no other file; its only style is inline and
allowed by its hash in a strict Content-Security-Policy (Chromium silently
drops an inline ``<style>`` that the policy blocks).  A client that does not
ask for ``text/html`` (curl) gets the same as plain text.
"""
from __future__ import annotations

import base64
import hashlib
import html
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .runtime import Runtime

TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"

STYLE = (
    "body{font:16px/1.45 system-ui,sans-serif;margin:0 auto;max-width:42rem;"
    "padding:1rem;color:#1d2327;background:#fbfbfa}"
    "h1{font-size:1.35rem;margin:.2rem 0 1rem}h2{font-size:1.05rem;margin:1.4rem 0 .4rem}"
    "h3{font-size:1rem;margin:1rem 0 .2rem;overflow-wrap:break-word}"
    "table{border-collapse:collapse;width:100%}"
    "td,th{text-align:left;padding:.35rem .4rem;border-bottom:1px solid #dcdcde;"
    "vertical-align:top;overflow-wrap:break-word}"
    "th{font-weight:600;color:#50575e;width:7.5rem}"
    "code{font:14px ui-monospace,monospace;overflow-wrap:anywhere}"
    "pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f0f0f1;padding:.6rem;"
    "border-radius:4px;font:14px ui-monospace,monospace}"
    ".muted{color:#646970}"
)
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode("utf-8")).digest()).decode()
CONTENT_SECURITY_POLICY = (f"default-src 'none'; style-src 'sha256-{STYLE_HASH}'; "
                           "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HTML_HEADERS = (("Content-Security-Policy", CONTENT_SECURITY_POLICY),
                ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
                ("X-Frame-Options", "DENY"))
#: the text page cannot be framed either (a browser shows text in a frame)
TEXT_HEADERS = (("Content-Security-Policy", "frame-ancestors 'none'"),
                ("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"))
FAMILIES = (("A", "IPv4"), ("AAAA", "IPv6"))


@dataclass(frozen=True)
class NameStatus:
    name: str
    #: record type -> the address a provider last confirmed ("" when none known)
    published: dict[str, str]
    #: record type -> when it was confirmed (None: not known)
    confirmed: dict[str, float | None]
    #: record type -> when this server last changed it (None: not since records began)
    changed: dict[str, float | None]


def name_status(runtime: Runtime, hostname: str) -> NameStatus:
    known = runtime.publisher.known_for(hostname)
    entries = {rtype: known.get(rtype) for rtype, _ in FAMILIES}
    changes = runtime.publisher.changes.read(hostname)
    return NameStatus(hostname,
                      {rtype: entry.address if entry else "" for rtype, entry in entries.items()},
                      {rtype: entry.confirmed if entry else None
                       for rtype, entry in entries.items()},
                      {rtype: changes.get(rtype) for rtype, _ in FAMILIES})


def _ago(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{max(seconds, 0):.0f} s"


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def _changed(status: NameStatus, rtype: str, now: float) -> str:
    confirmed = status.confirmed[rtype]
    when = status.changed[rtype]
    text = "not changed by this server yet" if when is None else f"changed {_when(when)}"
    return text if confirmed is None else f"{text}; confirmed {_ago(now - confirmed)} ago"


def update_url(base_url: str, hostname: str) -> str:
    return f"{base_url}/nic/update?hostname={hostname}&myip=<ipaddr>"


def status_page(runtime: Runtime, user: str, client: str, environ: dict, base_url: str
                ) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """(content type, page, extra headers) for ``user``; ``base_url``: where
    routers reach this server (``https://`` behind a TLS-terminating proxy)."""
    now = time.time()
    names = [name_status(runtime, name) for name in runtime.settings.hostnames.get(user, ())]
    stored = runtime.addressbook.read(user) or "-"
    family = "IPv6" if ":" in client else "IPv4"
    url = update_url(base_url, names[0].name if names else "HOSTNAME")
    if "text/html" in environ.get("HTTP_ACCEPT", ""):
        return HTML, render_html(user, client, family, stored, names, url, now), HTML_HEADERS
    return TEXT, render_text(user, client, family, stored, names, url, now), TEXT_HEADERS


def render_text(user: str, client: str, family: str, stored: str,
                names: Iterable[NameStatus], url: str, now: float) -> str:
    lines = [f"user:          {user}", f"your address:  {client} ({family}, as seen now)",
             f"stored (.cm):  {stored}"]
    for status in names:
        for rtype, label in FAMILIES:
            confirmed = status.confirmed[rtype]
            lines.append(f"{status.name} {label}: {status.published[rtype] or '-'} "
                         f"(changed {_when(status.changed[rtype])}"
                         + (f"; confirmed {_ago(now - confirmed)} ago)" if confirmed else ")"))
    lines.append(f"router update URL: {url}")
    return "\n".join(lines) + "\n"


def render_html(user: str, client: str, family: str, stored: str,
                names: list[NameStatus], url: str, now: float) -> str:
    e = html.escape
    hostnames = "".join(
        f'<h3 class="hostname">{e(status.name)}</h3><table>' + "".join(
            f"<tr><th>{label}</th><td><code>{e(status.published[rtype] or '-')}</code>"
            f'<br><span class="muted">{e(_changed(status, rtype, now))}'
            "</span></td></tr>" for rtype, label in FAMILIES) + "</table>"
        for status in names) or ('<p class="muted">No hostnames: ask the admin to list '
                                 "yours in [Hostnames].</p>")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>Chipmunk: {e(user)}</title><style>{STYLE}</style></head><body>"
        f"<h1>Chipmunk for {e(user)}</h1>"
        "<table>"
        f"<tr><th>your address</th><td><code>{e(client)}</code><br>"
        f"<span class=\"muted\">{family}, as this request came</span></td></tr>"
        f"<tr><th>stored for you</th><td><code>{e(stored)}</code></td></tr></table>"
        f"<h2>Your hostnames</h2>{hostnames}"
        "<h2>Update URL for your router</h2>"
        f"<pre id=\"update-url\">{e(url)}</pre>"
        "<p class=\"muted\">With your user name and password (not shown here). "
        "FRITZ!Box: <code>&lt;ipaddr&gt;,&lt;ip6addr&gt;</code> updates both.</p>"
        "</body></html>\n")
