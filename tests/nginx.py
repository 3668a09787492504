"""A real nginx as the reverse proxy in front of chipmunk-server, on loopback.

Configured as the README tells a user to (the same proxy lines), in a prefix
of the test's own; started in the foreground and always stopped.
"""
from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from helpers import free_port, stop_process, wait_until

#: what the README shows for [Server] proxy_header = x-forwarded-for
X_FORWARDED_FOR = """\
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;"""
#: what the README shows for [Server] proxy_header = forwarded
FORWARDED = """\
        proxy_set_header Host $host;
        proxy_set_header Forwarded "for=\\"$remote_addr\\";proto=$scheme";"""


def configure(prefix: Path, http: str, worker_connections: int = 2048,
              access_log: str = "off") -> list[str]:
    """Write ``prefix/nginx.conf`` around the ``http`` block's own lines (its
    temporary files, pid and error log in ``prefix``); the command that runs
    it in the foreground."""
    temp = "\n    ".join(f"{kind}_temp_path {prefix}/{kind};"
                          for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (prefix / "nginx.conf").write_text(f"""\
user root;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections {worker_connections}; }}
http {{
    access_log {access_log};
    {temp}
{http}
}}
""")
    return ["nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"]


class Nginx:
    def __init__(self, prefix: Path, upstream: tuple[str, int], headers: str = X_FORWARDED_FOR,
                 keepalive: bool = False) -> None:
        self.prefix = prefix
        prefix.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        host, port = upstream
        pool = "keepalive 32;" if keepalive else ""
        http11 = 'proxy_http_version 1.1;\n        proxy_set_header Connection "";' \
            if keepalive else ""
        command = configure(prefix, f"""\
    upstream chipmunk {{ server {host}:{port}; {pool} }}
    server {{
        listen 127.0.0.1:{self.port};
        location / {{
        proxy_pass http://chipmunk;
        {http11}
{headers}
        }}
    }}""")
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_until(self._accepting, "nginx to listen")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accepting(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"nginx exited: {self.process.stderr.read().decode()}")
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False
        return True

    def stop(self) -> None:
        stop_process(self.process)
        self.process.stderr.close()
