"""Keys as an admin makes them: ``chipmunk-server new-key`` in a child process."""
from __future__ import annotations

import re
import subprocess
import sys

from helpers import WAIT, child_env


def new_key(hostname: str, *scopes: str) -> tuple[str, str, str]:
    """chipmunk-server new-key, as an admin runs it: (key id, secret, fragment)."""
    done = subprocess.run([sys.executable, "-m", "chipmunk.server.cli", "new-key", hostname,
                           *scopes], capture_output=True, text=True, timeout=WAIT,
                          env=child_env())
    assert done.returncode == 0, done.stderr
    key_id = re.search(r"(?m)^# user: (\S+)$", done.stdout).group(1)
    secret = re.search(r"(?m)^# key: (\S+)$", done.stdout).group(1)
    return key_id, secret, done.stdout
