"""cheroot alone, answering like /get/ip: the ceiling for chipmunk-server.

One process, the same threads as chipmunk's default, a WSGI app that checks
nothing and returns a fixed line.  What chipmunk-server reaches per worker
cannot exceed what its host reaches with no work at all; the benchmark
reports both beside nginx, so a ratio to nginx can be read against it.

Usage: python3 -m benchmarks.cheroot_peer PORT THREADS
"""
from __future__ import annotations

import sys

from cheroot import wsgi


def app(environ, start_response):
    body = f"Your IP:  {environ['REMOTE_ADDR']}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"),
                              ("Content-Length", str(len(body)))])
    return [body]


def main() -> int:
    port, threads = int(sys.argv[1]), int(sys.argv[2])
    server = wsgi.Server(("127.0.0.1", port), app, numthreads=threads, max=threads,
                         request_queue_size=1024)
    server.keep_alive_conn_limit = 1000
    try:
        server.safe_start()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
