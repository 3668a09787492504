"""The chipmunk-server WSGI application: the original's API, hardened.

It never imports cheroot: any WSGI server can host it, and tests can call it
in-process.  What a reload may change is one :class:`~.runtime.Runtime`,
swapped in by :meth:`ChipmunkApp.use`.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..events import Event, log_event
from ..logs import Summarized
from . import acme, crosssite, dyndns, metrics, statuspage
from .auth import basic_header
from .budget import HashBudgetExhausted
from .forwarded import Origin
from .runtime import Runtime, build_runtime
from .serverwide import ServerWide
from .settings import ServerSettings

log = logging.getLogger(__name__)

StartResponse = Callable[..., object]
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"


@dataclass(frozen=True)
class Reply:
    status: str
    body: bytes
    content_type: str = TEXT
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def text(cls, status: str, text: str, *headers: tuple[str, str]) -> Reply:
        return cls(status, text.encode("utf-8"), TEXT, headers)

    @classmethod
    def json(cls, status: str, document: dict) -> Reply:
        return cls(status, json.dumps(document).encode("utf-8"), JSON)


@dataclass(frozen=True)
class Request:
    """One authenticated request, as a handler sees it."""

    environ: dict
    origin: Origin
    user: str

    @property
    def client(self) -> str:
        """The client's address: the peer, or what a trusted proxy says."""
        return str(self.origin.address)


def _get_ip(runtime: Runtime, request: Request) -> Reply:
    return Reply.text("200 OK", f"Your IP:  {request.client}\n")


def _get_ip_json(runtime: Runtime, request: Request) -> Reply:
    return Reply.json("200 OK", {"Client_IP": request.client})


def _bare_ip(runtime: Runtime, request: Request) -> Reply:
    return Reply.text("200 OK", f"{request.client}\n")


def _set(runtime: Runtime, request: Request) -> Reply:
    client = request.client
    _discard_body(request.environ, runtime.settings.max_body_size)
    changed = runtime.addressbook.remember(request.user, client, client)
    if changed is None:
        return Reply.json("500 Internal Server Error",
                          {"Client_IP": client, "status": "failed"})
    if changed:
        metrics.METRICS.set_changed()
    return Reply.json("200 OK", {"Client_IP": client, "status": "saved",
                                 "changed": changed})


def _discard_body(environ: dict, limit: int) -> None:
    """Read the (unused) request body so the connection stays usable."""
    try:
        length = min(int(environ.get("CONTENT_LENGTH") or 0), limit)
    except ValueError:
        return
    stream = environ.get("wsgi.input")
    while length > 0 and stream is not None:
        chunk = stream.read(min(length, 4096))
        if not chunk:
            break
        length -= len(chunk)


def _status(runtime: Runtime, request: Request) -> Reply:
    base_url = crosssite.own_origin(request.environ, request.origin.scheme,
                                    runtime.settings.public_url)
    content_type, page, headers = statuspage.status_page(
        runtime, request.user, request.client, request.environ, base_url)
    return Reply("200 OK", page.encode("utf-8"), content_type, headers)


def _acme_update(runtime: Runtime, request: Request) -> Reply:
    status, document = acme.update(runtime, request.user, request.environ)
    return Reply.json(status, document)


def _health(runtime: Runtime, request: Request) -> Reply:
    return Reply.text("200 OK", "")


def _nic_update(runtime: Runtime, request: Request) -> Reply:
    lines = dyndns.update_lines(runtime, request.user, request.client, request.environ)
    return Reply.text("200 OK", "".join(f"{line}\n" for line in lines))


Handler = Callable[[Runtime, Request], Reply]


@dataclass(frozen=True)
class Route:
    methods: tuple[str, ...]
    handler: Handler
    #: the body of a 401 (dyndns2 clients read "badauth")
    unauthorized: str = "Authentication required\n"
    #: it changes state: refused when a browser sent it for another site
    changes_state: bool = False
    #: counted as a dyndns2 answer in the metrics
    dyndns: bool = False
    #: what a key must be issued for to use it (None: keys are refused)
    key_scope: str | None = None
    #: credentials may come as acme-dns's X-Api-User and X-Api-Key
    api_key_headers: bool = False
    #: answered without credentials
    public: bool = False
    unauthorized_type: str = TEXT


READ_ONLY = ("GET", "HEAD")
#: path -> route.  What changes state takes no HEAD (HEAD changes nothing
#: anywhere); dyndns2 clients use GET.
ROUTES: dict[str, Route] = {
    "/": Route(READ_ONLY, _status),
    "/get/ip": Route(READ_ONLY, _get_ip),
    "/get/ip.json": Route(READ_ONLY, _get_ip_json),
    "/ip": Route(READ_ONLY, _bare_ip),
    "/set": Route(("GET", "POST"), _set, changes_state=True),
    **{path: Route(("GET",), _nic_update, dyndns.BADAUTH, changes_state=True, dyndns=True,
                   key_scope="update")
       for path in dyndns.PATHS},
    "/acme/update": (ACME := Route(("POST",), _acme_update, '{"error": "forbidden"}',
                                   changes_state=True, key_scope="acme",
                                   api_key_headers=True, unauthorized_type=JSON)),
    "/health": Route(READ_ONLY, _health, public=True),
}
#: path -> route for POST where it differs: acme-dns's POST /update (GET
#: /update stays the dyndns2 alias)
POST_ROUTES: dict[str, Route] = {"/update": ACME}
NOT_FOUND = Reply.text("404 Not Found", "Not found\n")


class ChipmunkApp:
    """The WSGI callable."""

    def __init__(self, settings: ServerSettings,
                 clock: Callable[[], float] = time.monotonic,
                 shared: ServerWide | None = None) -> None:
        """``clock`` times lockouts (tests pass their own); ``shared``: the
        hashing budget, lockout table and login cache of every worker
        (default: this process's own)."""
        self.clock = clock
        self.shared = shared or ServerWide.for_slots(settings.max_parallel_hashes)
        #: logins refused for lack of a hashing slot: one line per 10 s, counted
        self.refusals = Summarized(log, "{count} logins refused in {seconds}s: every "
                                   "password hashing slot was busy ([Server] "
                                   "max_parallel_hashes); each counts for its network's "
                                   "lockout")
        #: requests a trusted proxy wrote an unreadable entry for (Squid's
        #: "unknown" would be one line per request): summed up as well
        self.unreadable = Summarized(log, "{count} requests answered 400 in {seconds}s: "
                                     "the entry a trusted proxy wrote into [Server] "
                                     "proxy_header for the client cannot be read")
        self.runtime = build_runtime(settings, self.shared, clock=clock)
        self._closed = threading.Event()
        threading.Thread(target=self._sweep_challenges, daemon=True,
                         name="acme-sweeper").start()

    def _sweep_challenges(self) -> None:
        """Expired ACME challenges leave DNS even when no new one comes."""
        while not self._closed.wait(acme.sweep_interval(self.runtime)):
            try:
                acme.sweep(self.runtime)
            except Exception:  # a sweep must never take the worker down
                log.exception("sweeping the expired ACME challenges failed")

    def prepare(self, settings: ServerSettings) -> Runtime:
        """A Runtime for ``settings`` (its publishers built), to :meth:`use`;
        ConfigError when a provider refuses its section."""
        return build_runtime(settings, self.shared, self.clock)

    def use(self, runtime: Runtime) -> None:
        """Serve with ``runtime`` from the next request on."""
        previous, self.runtime = self.runtime, runtime
        previous.publisher.close()  # a request still using it opens new connections

    def configure(self, settings: ServerSettings) -> None:
        self.use(self.prepare(settings))

    def close(self) -> None:
        self._closed.set()
        self.runtime.publisher.close()

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        runtime = self.runtime
        started = time.perf_counter()
        try:
            reply = self._dispatch(runtime, environ)
        except Exception:  # the last line of defence: never show a traceback
            log.exception("internal error answering %s %s", environ.get("REQUEST_METHOD"),
                          environ.get("PATH_INFO"))
            reply = Reply.text("500 Internal Server Error", "Internal server error\n")
        headers = [("Content-Type", reply.content_type),
                   ("Content-Length", str(len(reply.body))),
                   ("Cache-Control", "no-store"), *reply.headers]
        start_response(reply.status, headers)
        path = environ.get("PATH_INFO", "")
        metrics.METRICS.request(path if path in ROUTES else "other", int(reply.status[:3]),
                                time.perf_counter() - started)
        return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [reply.body]

    def _dispatch(self, runtime: Runtime, environ: dict) -> Reply:
        try:
            origin = runtime.resolver.origin(environ)
        except ValueError:
            self.unreadable.happened()
            return Reply.text("400 Bad Request", "Cannot tell your address\n")
        client = str(origin.address)
        wait = runtime.lockout.retry_after(client)
        if wait:
            return Reply.text("429 Too Many Requests",
                              f"Too many failed logins; retry in {wait} seconds\n",
                              ("Retry-After", str(wait)))
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD")
        route = (POST_ROUTES.get(path) if method == "POST" else None) or ROUTES.get(path)
        if route is None:
            return NOT_FOUND
        if environ.get("REQUEST_METHOD") not in route.methods:
            return Reply.text("405 Method Not Allowed", "Method not allowed\n",
                              ("Allow", ", ".join(route.methods)))
        if route.changes_state:
            own = crosssite.own_origin(environ, origin.scheme, runtime.settings.public_url)
            why = crosssite.refusal(environ, own)
            if why is not None:
                log.warning("refused %s %s from %s: a browser sent it for another site "
                            "(%s)", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"),
                            client, why)
                return Reply.text("403 Forbidden", "Cross-site request refused\n")
        if route.public:
            return route.handler(runtime, Request(environ, origin, ""))
        header = environ.get("HTTP_AUTHORIZATION")
        if route.api_key_headers and "HTTP_X_API_USER" in environ:
            header = basic_header(environ["HTTP_X_API_USER"], environ.get("HTTP_X_API_KEY", ""))
        lockout = runtime.lockout
        try:
            verdict = runtime.authenticator.check(
                header, lambda: (lockout.network(client), lockout.failures(client)))
        except HashBudgetExhausted:
            # Nothing was checked, but the network asked for a hash it had no
            # share of: counted like a failure, so a flood locks itself out.
            metrics.METRICS.hash_refused()
            self.refusals.happened()
            self._count_against(runtime, client, {"CHIPMUNK_CLIENT_IP": client})
            return Reply.text("503 Service Unavailable",
                              "Too many logins are being checked; retry in a second\n",
                              ("Retry-After", "1"))
        user = verdict.user
        if user is None:
            if header:
                self._failed_login(runtime, client, verdict.supplied or "")
            if route.dyndns:
                metrics.METRICS.dyndns("badauth")
            return self._unauthorized(runtime, route)
        if not self._may(runtime, route, user, environ):
            log.warning("refused %s %s from %s as %s: %s", method, path, client, user,
                        "the key was not issued for it" if user in runtime.settings.keys
                        else "only a key may use it")
            return self._unauthorized(runtime, route)
        return route.handler(runtime, Request(environ, origin, user))

    @staticmethod
    def _unauthorized(runtime: Runtime, route: Route) -> Reply:
        return Reply("401 Unauthorized",
                     route.unauthorized.encode("utf-8"), route.unauthorized_type,
                     (("WWW-Authenticate", runtime.challenge),))

    @staticmethod
    def _may(runtime: Runtime, route: Route, user: str, environ: dict) -> bool:
        """Whether ``user`` (a user, or a key) may use ``route``: a key only
        what it was issued for, and its own name; the acme-dns API only keys."""
        key = runtime.settings.keys.get(user)
        if key is None:
            return route.key_scope != "acme"
        if route.key_scope is None or not key.may(route.key_scope):
            return False
        return not route.dyndns or dyndns.only_own_names(runtime, user, environ)

    @staticmethod
    def _failed_login(runtime: Runtime, client: str, name: str) -> None:
        fields = {"CHIPMUNK_USER": name, "CHIPMUNK_CLIENT_IP": client}
        log_event(log, Event.AUTH_FAILED, f"failed login from {client} as '{name}'", fields)
        metrics.METRICS.failed_login()
        ChipmunkApp._count_against(runtime, client, fields)

    @staticmethod
    def _count_against(runtime: Runtime, client: str, fields: dict[str, str]) -> None:
        """Count a failed or refused login for the client's network; log the
        lockout it starts (once per lockout, not per request)."""
        lockout = runtime.lockout
        uncounted = lockout.uncounted
        network = lockout.record_failure(client)
        runtime.authenticator.failed(lockout.network(client))
        if lockout.uncounted > uncounted:
            log.warning("the failed login from %s was not counted: the lockout table has "
                        "no room for its network nor for %s (a wide attack)", client,
                        lockout.network(client, wider=True))
        if network is None:
            return
        metrics.METRICS.lockout()
        message = (f"{network} failed to log in {lockout.limit} times within "
                   f"{lockout.window:g}s; locked out for {lockout.lockout:g}s (failed "
                   "logins and logins refused a hashing slot count alike)")
        if network != lockout.network(client):
            message += (f"; counted for the whole of {network}: the lockout table has "
                        f"no room for {lockout.network(client)}, a wide attack")
        log_event(log, Event.AUTH_LOCKOUT, message,
                  {**fields, "CHIPMUNK_NETWORK": network}, logging.WARNING)
