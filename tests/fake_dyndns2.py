"""A local stand-in for a dyndns2 service (dyn.com, No-IP): scripted answers,
Basic auth and the User-Agent checked, every request recorded."""
from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

from localhttp import LocalHTTPServer, QuietHandler


class FakeDynDNS2(LocalHTTPServer):
    """Answers /nic/update with a scripted code; checks Basic auth and User-Agent."""

    def __init__(self) -> None:
        self.answers: list[str] = []
        self.requests: list[dict] = []
        fake = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                auth = self.headers.get("Authorization", "")
                user = base64.b64decode(auth[6:]).decode() if auth.startswith("Basic ") \
                    else ""
                fake.requests.append({"path": url.path, "query": parse_qs(url.query),
                                      "user": user,
                                      "agent": self.headers.get("User-Agent", "")})
                if user != "me:update-key":
                    text = "badauth"
                else:
                    text = fake.answers.pop(0) if fake.answers else "good"
                    if text == "good":
                        text = f"good {parse_qs(url.query).get('myip', ['?'])[0]}"
                self.answer(200, text, "text/plain")

        super().__init__(Handler)
