"""``make run`` (tools.demo) works, in a network namespace of its own
(it uses the fixed default port 8080, which nothing else then contends for)."""
from __future__ import annotations

import subprocess
import sys

from helpers import child_env
from netns import Namespace


def test_make_run_shows_the_main_job():
    namespace = Namespace()
    try:
        done = subprocess.run(["ip", "netns", "exec", namespace.name, sys.executable, "-m",
                               "tools.demo"], env=child_env(), capture_output=True,
                              text=True, timeout=120)
    finally:
        namespace.delete()
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "200 Your IP:  127.0.0.1" in out and "401 " in out
    assert "127.0.0.1 home.example.lan home" in out, "the client wrote the hosts file"
    assert "200 good 192.0.2.7,2001:db8::7" in out and "200 nochg 192.0.2.7,2001:db8::7" in out
    assert "router.example.lan IPv6: 2001:db8::7" in out, "the status page"
    assert "chipmunk-server stopped with exit status 0" in out
    # it reads top to bottom: a step's heading, what the server logged for it, its answer
    wrong = out.index("== GET /get/ip as demo:wrong")
    assert wrong < out.index("server | info: failed login from 127.0.0.1") < \
        out.index("answer | 401 ", wrong)
    assert "client | info: public address is now 127.0.0.1" in out
    assert "client | (nothing printed: the address did not change" in out
    # the router's key updates its name and opens nothing else; an ACME key
    # sets the challenge
    keyed = out.index("== the router's key on anything else: GET /get/ip")
    assert "answer | 401 " in out[keyed:keyed + 400]
    assert '200 {"txt": "' + "A" * 43 + '"}' in out
    assert "TXT " + "A" * 43 in out
