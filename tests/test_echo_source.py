"""An echo service that never stops talking: the HTTP source reads at most
a page's worth of its body and refuses it at once, instead of holding the
check (and the memory) until the service stops."""
from __future__ import annotations

import time

from chipmunk.client.settings import load_settings
from chipmunk.client.sources import SourceFailed, build_source
from localhttp import LocalHTTPServer, QuietHandler

#: the endless body is cut off here, so the test itself is bounded
ENDLESS_SECONDS = 8


class Endless(QuietHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        ends = time.monotonic() + ENDLESS_SECONDS
        try:
            while time.monotonic() < ends:
                self.wfile.write(b"192.0.2.1 " * 1000)
                time.sleep(0.01)
        except OSError:
            pass  # the client hung up: what it should do


def test_an_endless_answer_is_refused_after_a_page(tmp_path):
    server = LocalHTTPServer(Endless)
    try:
        config = tmp_path / "client.ini"
        config.write_text(f"[Global]\nstate_dir = {tmp_path}\nipv6_source = none\n"
                          f"[Discovery]\nipv4 = {server.url}/ip\ntimeout = 30\n")
        settings = load_settings(config)
        (spec,) = settings.sources_for(4)
        source = build_source(spec, settings)
        began = time.monotonic()
        try:
            source.ask(30)
        except SourceFailed as error:
            assert "more than 16384 bytes" in str(error)
        else:
            raise AssertionError("an endless body was believed")
        finally:
            source.close()
        assert time.monotonic() - began < 2, "refused after a page, not at the end"
    finally:
        server.close()
