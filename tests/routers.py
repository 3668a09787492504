"""Real dyndns2 clients as routers run them: Debian's ddclient, one update."""
from __future__ import annotations

import subprocess
from pathlib import Path

from helpers import WAIT


def ddclient(tmp_path: Path, port: int, login: str, password: str, names: str,
             address: str) -> str:
    """One ddclient run reporting ``address`` for ``names`` (comma-separated)
    to the server on 127.0.0.1:``port``; what it said.  It must succeed."""
    config = tmp_path / "ddclient.conf"
    config.write_text(
        f"daemon=0\nsyslog=no\nssl=no\nprotocol=dyndns2\nuse=ip, ip={address}\n"
        f"server=127.0.0.1:{port}\nlogin={login}\npassword='{password}'\n{names}\n")
    config.chmod(0o600)
    result = subprocess.run(
        ["ddclient", "-daemon=0", "-foreground", "-noquiet", "-verbose", "-file", str(config),
         "-cache", str(tmp_path / "ddclient.cache")],
        capture_output=True, text=True, timeout=WAIT * 4)
    said = result.stdout + result.stderr
    assert result.returncode == 0 and "SUCCESS" in said, said
    return said
