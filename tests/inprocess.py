"""The WSGI app in-process, as the tests drive it: an environ and a
start_response, no process and no port (after Radicale's BaseTest.request),
and a clock the tests move by hand."""
from __future__ import annotations

import io
import wsgiref.util
from pathlib import Path

from chipmunk.server.app import ChipmunkApp
from chipmunk.server.settings import load_text
from helpers import basic

ALICE = basic("alice", "wonderland")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Client:
    """Calls the app the way a WSGI server would."""

    def __init__(self, app: ChipmunkApp) -> None:
        self.app = app

    def request(self, method: str, path: str, authorization: str | None = ALICE,
                peer: str = "192.0.2.10", body: bytes = b"",
                **headers: str) -> tuple[int, dict[str, str], bytes]:
        environ: dict = {}
        wsgiref.util.setup_testing_defaults(environ)
        path, _, query = path.partition("?")
        environ.update({"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
                        "REMOTE_ADDR": peer,
                        "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)})
        if authorization is not None:
            environ["HTTP_AUTHORIZATION"] = authorization
        environ.update({f"HTTP_{name.upper()}": value for name, value in headers.items()})
        answer: dict = {}

        def start_response(status: str, response_headers: list) -> None:
            answer["status"], answer["headers"] = int(status.split()[0]), dict(response_headers)

        body_out = b"".join(self.app(environ, start_response))
        return answer["status"], answer["headers"], body_out


def make_app(tmp_path: Path, server: str = "", users: str = "alice = wonderland\n",
             clock: Clock | None = None, extra: str = "") -> ChipmunkApp:
    """The app for a config of these sections (``extra``: more of them)."""
    text = (f"[Paths]\nclient_update_dir = {tmp_path}\n[Server]\n{server}\n"
            f"[Users]\n{users}\n{extra}")
    return ChipmunkApp(load_text(text), clock=clock or Clock())
