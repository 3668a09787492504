"""cheroot alone, answering like /get/ip: the ceiling for chipmunk-server.

The same threads as chipmunk's, a WSGI app that checks nothing and returns a
fixed line; several processes share the port with SO_REUSEPORT, as
chipmunk's workers do, and with a certificate it serves TLS through
cheroot's own adapter (its blocking handshake).  What chipmunk-server
reaches cannot exceed what its host reaches with no work at all: every
server figure is reported as a ratio to this, measured in the same run.

Usage: python3 -m benchmarks.cheroot_peer PORT THREADS [CERT KEY]
"""
from __future__ import annotations

import socket
import sys

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter


def app(environ, start_response):
    body = f"Your IP:  {environ['REMOTE_ADDR']}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"),
                              ("Content-Length", str(len(body)))])
    return [body]


class SharedPortServer(wsgi.Server):
    """cheroot's server on a socket with SO_REUSEPORT (cheroot 9.0 cannot set it)."""

    def bind(self, family, type, proto=0):
        sock = socket.socket(family, type, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(self.bind_addr)
        self.socket = sock
        return sock


def main() -> int:
    port, threads = int(sys.argv[1]), int(sys.argv[2])
    server = SharedPortServer(("127.0.0.1", port), app, numthreads=threads, max=threads,
                              request_queue_size=1024)
    server.keep_alive_conn_limit = 1000
    if len(sys.argv) > 4:
        server.ssl_adapter = BuiltinSSLAdapter(sys.argv[3], sys.argv[4])
    try:
        server.safe_start()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
