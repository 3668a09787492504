"""Hosting the WSGI app in cheroot on sockets that Chipmunk owns.

We create (or inherit from systemd) the listening sockets ourselves and hand
them to cheroot, because:
- socket activation may pass IPv6 sockets or several of them, while cheroot's
  own LISTEN_PID shortcut assumes one AF_INET socket on fd 3;
- Debian's cheroot 9.0 cannot set SO_REUSEPORT, and several worker
  processes must share the listening sockets;
- the listen backlog must exceed cheroot's default of 5.
It also closes a request-smuggling hole in cheroot (see
:class:`FramedRequest`).  This is the only module that imports cheroot.
"""
from __future__ import annotations

import io
import logging
import socket
import ssl
import threading
from collections.abc import Sequence

from cheroot import errors, wsgi
from cheroot import server as cheroot_server
from cheroot.ssl.builtin import BuiltinSSLAdapter

from ..config import ConfigError
from .connections import ClientConnections
from .gate import Buffer, RequestGate
from .settings import ListenAddress, ServerSettings

log = logging.getLogger(__name__)

#: Waiting keep-alive connections one process keeps (cheroot's default is 10,
#: which closes connections under modest load).
KEEPALIVE_CONNECTIONS = 1000


def bind_listeners(addresses: Sequence[ListenAddress], backlog: int, copies: int = 1
                   ) -> list[list[socket.socket]]:
    """Bind and listen on every address, ``copies`` times; OSError names the address.

    With several copies (one per worker process) each copy is its own socket
    on the same port with SO_REUSEPORT, so the kernel spreads new connections
    evenly over the workers.  (On one shared socket, whichever process wakes
    first accepts: under a burst one worker takes most connections and the
    others idle.)  A copy whose worker died keeps queueing connections until
    its replacement serves them.  Port 0 is resolved by the first copy.
    (Failed logins are counted server-wide whichever worker a client
    reaches: :mod:`.lockout`.)
    """
    sets: list[list[socket.socket]] = [[] for _ in range(copies)]
    try:
        for address in addresses:
            port = address.port
            for sockets in sets:
                sock = _listener(address, port, addresses, reuse_port=copies > 1)
                sockets.append(sock)
                sock.listen(backlog)
                port = sock.getsockname()[1]
    except BaseException:
        for sockets in sets:
            for sock in sockets:
                sock.close()
        raise
    return sets


def _listener(address: ListenAddress, port: int, addresses: Sequence[ListenAddress],
              reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if address.family_is_ipv6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            # "[::]" is dual-stack, unless IPv4 is listed on the same port.
            v6only = address.host != "::" or any(
                not other.family_is_ipv6 and other.port == address.port
                for other in addresses)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(v6only))
        sock.bind((address.host, port))
    except OSError as error:
        sock.close()
        raise OSError(error.errno, f"cannot listen on {address}: "
                      f"{error.strerror}") from None
    return sock


def socket_address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if sock.family == socket.AF_INET6 else f"{host}:{port}"


class DeferredHandshakeAdapter(BuiltinSSLAdapter):
    """cheroot's TLS adapter, without the handshake in the accept thread.

    cheroot's own ``wrap()`` completes the handshake in the thread that
    accepts every connection, so one client that never sent its ClientHello
    held up every new connection for ``connection_timeout``.  Here ``wrap()``
    only wraps; the :class:`~.gate.RequestGate` drives the handshake without
    blocking, under ``header_timeout``, and hands the connection to a worker
    once it is done.  The environ gets the two entries a WSGI app needs.
    """

    def wrap(self, sock):
        wrapped = self.context.wrap_socket(sock, do_handshake_on_connect=False,
                                           server_side=True)
        return wrapped, {"wsgi.url_scheme": "https", "HTTPS": "on"}


#: the TLS adapter a worker hands its servers on reload
TLSAdapter = BuiltinSSLAdapter


class CherootBuffer(Buffer):
    """A connection's read buffer as cheroot keeps it: a ``_pyio``
    BufferedReader (``conn.rfile``), whose unread bytes are
    ``_read_buf[_read_pos:]``.  The gate decrypts TLS into it and peeks at
    it; only this module knows where it is."""

    def held(self, conn) -> bytes:
        rfile = conn.rfile
        return bytes(rfile._read_buf[rfile._read_pos:]) if rfile.has_data() else b""

    def append(self, conn, data: bytes) -> bytes:
        """Only the thread that owns the connection calls this (the gate's, or
        the one that admits it), as cheroot only reads it in a worker after."""
        rfile = conn.rfile
        with rfile._read_lock:
            held = bytes(rfile._read_buf[rfile._read_pos:]) + data
            rfile._read_buf, rfile._read_pos = held, 0
        return held


def tls_adapter(settings: ServerSettings) -> BuiltinSSLAdapter | None:
    """The TLS adapter for the configured files, TLS 1.2+."""
    if not settings.tls:
        return None
    try:
        adapter = DeferredHandshakeAdapter(str(settings.tls_certificate),
                                           str(settings.tls_private_key))
    except (OSError, ssl.SSLError, ValueError) as error:
        raise ConfigError(settings.path, f"cannot load the TLS certificate and key: "
                          f"{error}", "Server", "tls_certificate",
                          str(settings.tls_certificate)) from None
    adapter.context.minimum_version = ssl.TLSVersion.TLSv1_2
    return adapter


def framing_problem(headers: dict[bytes, bytes], protocol: str) -> str | None:
    """Why a request's body length is ambiguous (RFC 9112 6), or None.

    cheroot takes ``int()`` of Content-Length, so ``-5`` passed and the body
    was then read as the next request; it ignores Transfer-Encoding in
    HTTP/1.0, with the same result.
    """
    length = headers.get(b"Content-Length")
    if length is not None and not length.isdigit():
        return "Content-Length must be digits"
    if b"Transfer-Encoding" in headers:
        if length is not None:
            return "Content-Length and Transfer-Encoding together"
        if protocol != "HTTP/1.1":
            return "Transfer-Encoding in an HTTP/1.0 request"
    return None


class FramedRequest(cheroot_server.HTTPRequest):
    """cheroot's request, with every body read before the app answers.

    cheroot drains an unread ``Content-Length`` body after the answer, but
    not a chunked one: when the app answers without reading it (401, 404,
    405, ``/get/ip``), the body was parsed as the next request on the
    connection, so ``POST /get/ip`` with the chunked body ``GET /ip ...``
    got two answers -- behind a proxy that reuses connections, answers
    then go to the wrong users.  Here a chunked body is read whole (at most
    ``max_body_size``) before the app runs, and handed to it as a plain
    body; one too large is 413, a malformed one 400, and either closes the
    connection.  Ambiguous framing (:func:`framing_problem`) is 400, closed.
    """

    def read_request_headers(self) -> bool:
        if not super().read_request_headers():
            return False
        problem = framing_problem(self.inheaders, self.response_protocol)
        if problem:
            self._refuse("400 Bad Request", problem)
            return False
        return True

    def respond(self) -> None:
        if not self.chunked_read:
            super().respond()
            return
        body = self._read_chunked_body()
        if body is None:
            return
        self.chunked_read = False
        self.inheaders[b"Content-Length"] = str(len(body)).encode("ascii")
        self.rfile = cheroot_server.KnownLengthRFile(io.BytesIO(body), len(body))
        self.server.gateway(self).respond()
        if self.ready:
            self.ensure_headers_sent()
        if self.chunked_write:
            self.conn.wfile.write(b"0\r\n\r\n")

    def _read_chunked_body(self) -> bytes | None:
        """The whole chunked body, or None once refused (and answered)."""
        limit = self.server.max_request_body_size
        try:
            return cheroot_server.ChunkedRFile(self.conn.rfile, limit).read()
        except errors.MaxSizeExceeded:
            self._refuse("413 Request Entity Too Large", "The request body is too large.")
        except ValueError:
            self._refuse("400 Bad Request", "Malformed chunked request body.")
        except OSError as error:
            if "Too Large" not in str(error):
                raise  # the connection failed: nothing to answer
            self._refuse("413 Request Entity Too Large", "The request body is too large.")
        return None

    def _refuse(self, status: str, message: str) -> None:
        self.close_connection = True
        self.simple_response(status, message)

    def simple_response(self, status, msg="") -> None:
        """cheroot's error answer, to a client that may be gone.

        A TLS client that sends part of a head and then closes made the
        answer (400) raise ``SSLZeroReturnError``; cheroot then tried a 500,
        which raised again, out of the worker thread: the thread died, and
        a few such clients left a process with none.
        """
        try:
            super().simple_response(status, msg)
        except OSError:  # the peer has gone: nobody to answer
            self.close_connection = True


class FramedConnection(cheroot_server.HTTPConnection):
    """cheroot's connection, whose errors never end the worker thread."""

    RequestHandlerClass = FramedRequest

    def communicate(self) -> bool:
        # cheroot's worker thread catches nothing a connection raises: one
        # that escapes ends the thread, and the pool is never refilled.
        try:
            return super().communicate()
        except Exception as error:  # a bug, here or in cheroot: this connection only
            log.warning("closing a connection after an unexpected error: %r", error)
            return False

    def close(self) -> None:
        self.server.clients.release(self)
        super().close()


class _OwnSocketServer(wsgi.Server):
    """A cheroot WSGI server that serves on a socket it was given."""

    ConnectionClass = FramedConnection

    def __init__(self, sock: socket.socket, app, settings: ServerSettings) -> None:
        host, port = sock.getsockname()[:2]
        super().__init__((host, port), app, numthreads=settings.threads,
                         max=settings.threads, request_queue_size=settings.backlog,
                         # cheroot's stub says int; it is a socket timeout, so a
                         # float works and keeps "connection_timeout = 2.5" exact
                         timeout=settings.connection_timeout,  # type: ignore[arg-type]
                         server_name="chipmunk")
        self._given_socket = sock
        self.max_request_header_size = settings.max_header_size
        self.max_request_body_size = settings.max_body_size
        self.keep_alive_conn_limit = KEEPALIVE_CONNECTIONS
        self.clients = ClientConnections(settings.max_connections_per_client,
                                         settings.trusted_proxies, settings.lockout_ipv4_prefix,
                                         settings.lockout_ipv6_prefix)
        self.gate = RequestGate(super().process_conn, settings.max_header_size,
                                settings.max_body_size, settings.header_timeout,
                                settings.body_timeout, CherootBuffer())

    def process_conn(self, conn) -> None:
        """A connection with data (or just accepted): through the gate to a worker."""
        if not self.clients.admit(conn):
            conn.close()
            return
        self.gate.admit(conn)

    def bind(self, family, type, proto=0):
        # Accepted connections inherit TCP_NODELAY; without it keep-alive
        # answers wait ~40 ms for delayed ACKs (cheroot sets it in the bind()
        # this replaces).
        self._given_socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.socket = self._given_socket
        return self.socket


class HTTPService:
    """One cheroot server per listening socket, each served by a thread."""

    def __init__(self, sockets: Sequence[socket.socket], app,
                 settings: ServerSettings, tls: bool = True) -> None:
        """``tls`` False: plain HTTP whatever the settings say (the metrics)."""
        self.servers = [_OwnSocketServer(sock, app, settings) for sock in sockets]
        self.addresses = [socket_address(sock) for sock in sockets]
        self._threads: list[threading.Thread] = []
        self.tls = tls
        self.set_tls(tls_adapter(settings))

    def set_tls(self, adapter: BuiltinSSLAdapter | None) -> None:
        """Use ``adapter`` for connections accepted from now on."""
        for server in self.servers:
            server.ssl_adapter = adapter if self.tls else None

    def open_connections(self) -> int:
        return sum(server.clients.open_count() for server in self.servers)

    def start(self) -> None:
        for server in self.servers:
            server.prepare()
            # prepare() gives the listening socket a 1 s timeout.  Where several
            # worker processes share it, every one wakes for a new connection
            # and the losers would block in accept() for that second, holding
            # up their keep-alive connections; non-blocking, they just move on
            # (cheroot treats EAGAIN from accept() as "try again").
            server.socket.setblocking(False)
            server.gate.start()
            thread = threading.Thread(target=server.serve, name=f"serve {server.bind_addr}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop accepting, let requests in progress finish, close everything."""
        for server in self.servers:
            server.gate.stop()
            server.stop()
        for thread in self._threads:
            thread.join(timeout=10)
