"""What the tests' fake HTTP peers share: a real server on 127.0.0.1:0 in a
thread (always shut down), and a quiet handler with one way to answer."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def read_json(self):
        """The request body as JSON, or None when there is none."""
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length)) if length else None

    def answer(self, status: int, body, content_type: str = "application/json",
               headers: dict[str, str] | None = None) -> None:
        """Send ``body``: bytes or text as they are, anything else as JSON."""
        if not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


class LocalHTTPServer:
    """A ThreadingHTTPServer for ``handler`` on an ephemeral loopback port."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        # a short poll interval: shutdown() waits up to one interval
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
