"""Connections wait here, holding no worker thread, until their request is whole.

cheroot hands a connection to a worker thread as soon as it is accepted or
a byte arrives; the thread then blocks reading the rest, and its
``connection_timeout`` restarts with every byte.  So a few clients sending
one header byte every two seconds held every thread, and legitimate
clients got no answer (slowloris: threads x workers = 8 sockets sufficed).

The :class:`RequestGate` sits between cheroot's accept/keep-alive loop and
its worker threads.  It looks at what the kernel has buffered without
consuming it (``MSG_PEEK``): a connection whose request head -- and its
body, up to ``max_body_size`` -- is complete goes to a worker at once (the
usual case costs one extra ``recv``); any other waits in the gate's own
selector thread, which holds no worker.  ``SO_RCVLOWAT`` is set one byte
above what is already buffered, so the selector wakes only when more data
arrives, never in a busy loop.  The head must be complete within
``header_timeout`` of the first wait (for a new connection: of its accept),
the body within ``body_timeout`` after that -- total deadlines, not per
byte -- else the connection gets 408 and is closed, as is one that needs
more than ``MAX_LOOKS`` looks (a request sent a byte per segment).

Written here because no Debian-packaged HTTP server library offers this on
top of cheroot; the parsing is only what framing needs (where the head ends,
Content-Length, chunked), and anything unusual is handed on for cheroot to
answer.

TLS connections wait here through their handshake, and then like plain
ones; but their bytes are encrypted, so the kernel's buffer cannot show
where a head ends.  The gate decrypts what has arrived (never blocking) and
puts it into the connection's read buffer, where cheroot reads it first, so
a client that trickles its encrypted head holds no worker either.  The
deadlines cover handshake and head together.
"""
from __future__ import annotations

import collections
import logging
import os
import selectors
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)

TIMEOUT_ANSWER = (b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n"
                  b"Connection: close\r\n\r\n")
#: Each look copies what is buffered so far: a request sent one byte per
#: segment would cost quadratic copying.  Real clients send a request in one
#: or a few segments; one needing more looks than this is closed (408).
MAX_LOOKS = 64


@dataclass
class _Waiting:
    conn: Any
    deadline: float
    head_complete: bool
    #: SO_RCVLOWAT was raised above its default of 1
    low_water_raised: bool = False
    looks: int = 1


@dataclass(frozen=True)
class _Look:
    """What the kernel has buffered for one connection."""

    #: whole: hand it on (or something cheroot must answer itself)
    ready: bool
    #: hopeless (a failed TLS handshake): close it, nothing to answer
    drop: bool = False
    #: bytes buffered in the socket (not counting cheroot's own buffer)
    in_socket: int = 0
    head_complete: bool = False


class Buffer(Protocol):
    """What the gate needs of the HTTP server's read buffer of a connection
    (:mod:`.hosting` knows how cheroot keeps it; tests bring their own)."""

    def held(self, conn: Any) -> bytes:
        """What the buffer holds, unread."""

    def append(self, conn: Any, data: bytes) -> bytes:
        """Put ``data`` after what it holds unread; all it holds now."""


class RequestGate:
    def __init__(self, hand_over: Callable[[Any], None], max_head: int, max_body: int,
                 header_timeout: float, body_timeout: float, buffer: Buffer,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``hand_over(conn)``: give a connection whose request is whole to the
        server's worker threads; ``buffer``: its read buffer's operations."""
        self.hand_over = hand_over
        self.buffer = buffer
        #: TLS connections whose handshake is done (the gate's own note)
        self._established: weakref.WeakSet[Any] = weakref.WeakSet()
        self.max_head, self.max_body = max_head, max_body
        self.header_timeout, self.body_timeout = header_timeout, body_timeout
        self.clock = clock
        #: how much of a request is looked at: a head, a body, chunk framing
        self.window = max_head + 4 * max_body + 1024
        self._selector = selectors.DefaultSelector()
        self._wake_reader, self._wake_writer = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._selector.register(self._wake_reader, selectors.EVENT_READ)
        #: connections handed to the gate's thread by other threads
        self._incoming: collections.deque[tuple[Any, _Look, float]] = collections.deque()
        #: fd -> connection; only the gate's thread touches it
        self._waiting: dict[int, _Waiting] = {}
        self._stopping = False
        #: held while the wake-up pipe is written to or closed
        self._pipe_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="request gate", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop waiting; connections still waiting, or admitted from now on, are closed."""
        self._stopping = True
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._pipe_lock:
            os.close(self._wake_reader)
            os.close(self._wake_writer)
            self._wake_writer = -1
        for waiting in self._waiting.values():
            waiting.conn.close()
        self._waiting.clear()
        while self._incoming:
            self._incoming.popleft()[0].close()
        self._selector.close()

    def admit(self, conn: Any) -> None:
        """Hand ``conn`` on now if its request is whole, else let it wait here."""
        if not isinstance(conn.socket, socket.socket):
            self.hand_over(conn)
            return
        look = self._look(conn)
        if look.drop:
            conn.close()
            return
        if look.ready:
            self.hand_over(conn)
            return
        self._incoming.append((conn, look, self.clock()))
        if not self._wake():  # stopping: nobody will take it
            conn.close()

    # -- inspecting a connection -------------------------------------------

    def _look(self, conn: Any) -> _Look:
        if isinstance(conn.socket, ssl.SSLSocket):
            return self._look_tls(conn)
        buffered = self.buffer.held(conn)
        sock = conn.socket
        # A socket with a timeout waits for data before recv(), whatever the
        # flags; with none (the fd is non-blocking either way) it answers now.
        timeout = sock.gettimeout()
        sock.settimeout(0.0)
        try:
            peeked = sock.recv(max(self.window - len(buffered), 1), socket.MSG_PEEK)
        except BlockingIOError:
            peeked = b""
        except OSError:
            return _Look(ready=True)  # broken: cheroot closes it
        else:
            if not peeked:
                return _Look(ready=True)  # the peer closed: cheroot closes too
        finally:
            sock.settimeout(timeout)
        return self._judge(buffered + peeked, len(peeked))

    def _look_tls(self, conn: Any) -> _Look:
        """A step of the handshake, then what has arrived decrypted, moved
        into the connection's read buffer (cheroot reads that first)."""
        sock: ssl.SSLSocket = conn.socket
        timeout = sock.gettimeout()
        sock.settimeout(0.0)
        try:
            if conn not in self._established:
                sock.do_handshake()
                self._established.add(conn)
            held = len(self.buffer.held(conn))
            received, ended = _receive_available(sock, self.window - held)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return _Look(ready=False)  # the handshake goes on
        except (ssl.SSLError, OSError):
            return _Look(ready=False, drop=True)  # nothing to answer in
        finally:
            sock.settimeout(timeout)
        buffered = self.buffer.append(conn, received)
        if ended:
            return _Look(ready=True)  # cheroot reads what is left, then the end
        return self._judge(buffered, 0)

    def _judge(self, data: bytes, in_socket: int) -> _Look:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            # A head ended by bare LFs is malformed: cheroot answers 400 at once.
            malformed = b"\n\n" in data
            return _Look(ready=malformed or len(data) >= self.max_head, in_socket=in_socket)
        length, chunked = 0, False
        for line in data[:end].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                try:
                    length = int(value.strip())
                except ValueError:
                    return _Look(ready=True)  # cheroot answers 400
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        body = data[end + 2:]  # starts with the CRLF that ends the head
        if chunked:
            whole = _chunked_body_state(body[2:], self.max_body) != "partial"
        else:
            whole = length > self.max_body or len(body) - 2 >= length
        return _Look(ready=whole or len(data) >= self.window, in_socket=in_socket,
                     head_complete=True)

    # -- the gate's thread -------------------------------------------------

    def _run(self) -> None:
        while not self._stopping:
            try:
                self._step()
            except Exception:  # a bug must not stop the gate: every connection waits here
                log.exception("request gate: unexpected error; going on")

    def _step(self) -> None:
        deadlines = [waiting.deadline for waiting in self._waiting.values()]
        timeout = max(min(deadlines) - self.clock(), 0) if deadlines else None
        for key, _ in self._selector.select(timeout):
            if key.fd == self._wake_reader:
                self._take_incoming()
            elif key.fd in self._waiting:
                self._more_data(key.fd)
        self._expire()

    def _take_incoming(self) -> None:
        try:
            while os.read(self._wake_reader, 4096):
                pass
        except BlockingIOError:
            pass
        while self._incoming:
            conn, look, admitted = self._incoming.popleft()
            limit = self.body_timeout if look.head_complete else self.header_timeout
            fd = conn.socket.fileno()
            self._waiting[fd] = _Waiting(conn, admitted + limit, look.head_complete)
            self._watch(fd, look)
            self._selector.register(fd, selectors.EVENT_READ)

    def _more_data(self, fd: int) -> None:
        waiting = self._waiting[fd]
        waiting.looks += 1
        if waiting.looks > MAX_LOOKS:
            self._close_waiting(fd)
            return
        look = self._look(waiting.conn)
        if look.drop:
            self._release(fd)
            waiting.conn.close()
            return
        if look.ready:
            self._release(fd)
            self.hand_over(waiting.conn)
            return
        if look.head_complete and not waiting.head_complete:
            waiting.head_complete = True
            waiting.deadline = self.clock() + self.body_timeout
        self._watch(fd, look)

    def _watch(self, fd: int, look: _Look) -> None:
        """Wake only when more than what is buffered now has arrived."""
        waiting = self._waiting[fd]
        if look.in_socket == 0 and not waiting.low_water_raised:
            return  # the default low-water mark (1 byte) is right: no syscall
        try:
            waiting.conn.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT,
                                           look.in_socket + 1)
            waiting.low_water_raised = True
        except OSError:
            pass  # closed meanwhile: the next select reports it readable

    def _release(self, fd: int) -> None:
        waiting = self._waiting.pop(fd)
        self._selector.unregister(fd)
        if not waiting.low_water_raised:
            return
        try:
            waiting.conn.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 1)
        except OSError:
            pass

    def _expire(self) -> None:
        now = self.clock()
        for fd in [fd for fd, waiting in self._waiting.items() if waiting.deadline <= now]:
            self._close_waiting(fd)

    def _close_waiting(self, fd: int) -> None:
        """408 (where there is no TLS session to answer in) and close."""
        conn = self._waiting[fd].conn
        self._release(fd)
        sock = conn.socket
        try:
            if not isinstance(sock, ssl.SSLSocket):
                sock.send(TIMEOUT_ANSWER, socket.MSG_DONTWAIT)
            elif conn in self._established:
                sock.settimeout(0.0)
                sock.send(TIMEOUT_ANSWER)  # one small record: fits, or is dropped
        except OSError:  # ssl.SSLError included
            pass
        conn.close()

    def _wake(self) -> bool:
        """Wake the gate's thread; False once the gate has stopped."""
        with self._pipe_lock:
            if self._wake_writer < 0:
                return False
            try:
                os.write(self._wake_writer, b"\0")
            except BlockingIOError:
                pass  # a wake-up is already pending
            return True


def _receive_available(sock: ssl.SSLSocket, limit: int) -> tuple[bytes, bool]:
    """Decrypted bytes that can be had without waiting (at most ``limit``,
    at least one read), and whether the peer ended the connection."""
    parts: list[bytes] = []
    wanted = max(limit, 1)
    while wanted > 0:
        try:
            data = sock.recv(min(wanted, 65536))
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            break
        if not data:
            return b"".join(parts), True
        parts.append(data)
        wanted -= len(data)
    return b"".join(parts), False


def _chunked_body_state(body: bytes, limit: int) -> str:
    """"whole", "partial", or "bad": malformed or over ``limit`` bytes of data
    (cheroot answers that one with 400 or 413: hand it on)."""
    position = total = 0
    while True:
        line_end = body.find(b"\r\n", position)
        if line_end < 0:
            line = body[position:]
            digits = line.split(b";")[0]
            looks_ok = all(c in b"0123456789abcdefABCDEF" for c in digits) and len(line) < 1024
            return "partial" if looks_ok else "bad"
        try:
            size = int(body[position:line_end].split(b";")[0], 16)
        except ValueError:
            return "bad"
        if size == 0:  # trailers, then an empty line
            return "whole" if body.find(b"\r\n\r\n", line_end) >= 0 else "partial"
        total += size
        if total > limit:
            return "bad"
        position = line_end + 2 + size + 2
        if position > len(body):
            return "partial"
