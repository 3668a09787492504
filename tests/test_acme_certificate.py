"""A real certificate for a home host through chipmunk-server's acme-dns API.

Debian's pebble (an ACME server; its HTTPS certificate from a throwaway CA)
validates DNS-01 by asking a real BIND, which chipmunk-server writes by RFC
2136.  Two real clients order one certificate for ``home.example.test``
and ``*.home.example.test`` -- two challenges of the same name:

- acme.sh with its ``dns_acmedns`` hook, from Debian trixie's package
  (``make test`` fetches the .deb into build/; it is not installed: its
  script runs from the unpacked tree), which presents both challenges
  before pebble validates either -- both TXT values at once;
- Debian 12's lego, which has no acme-dns provider: its ``exec`` provider
  runs a script that sends what lego's acme-dns provider sends (curl, POST
  /update with X-Api-User and X-Api-Key).

The chain is verified against pebble's root, fetched from its management
interface.  Loopback only, bounded in time.
"""
from __future__ import annotations

import json
import os
import re
import socket
import ssl
import subprocess
import urllib.request
from pathlib import Path

import pytest

from bind import HOME, publishing_config
from helpers import WAIT, child_env, free_port, stop_process, wait_until
from scopedkeys import new_key
from tlsfiles import tls_files

CLIENT_TIMEOUT = 120
#: where make test unpacks Debian trixie's acme.sh (ACME_SH overrides)
ACME_SH = Path(__file__).resolve().parent.parent / "build" / "acme.sh" / "usr" / "share" / \
    "acme.sh" / "acme.sh"


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture
def pebble(tmp_path, named):
    """pebble on loopback, resolving through named; (directory URL, CA file,
    management port)."""
    authority, cert, key = tls_files(tmp_path, "pebble")
    ca = tmp_path / "pebble-https-ca.pem"
    authority.cert_pem.write_to_path(ca)
    port, management = free_port(), free_port()
    config = tmp_path / "pebble.json"
    config.write_text(json.dumps({"pebble": {
        "listenAddress": f"127.0.0.1:{port}", "managementListenAddress": f"127.0.0.1:{management}",
        "certificate": str(cert), "privateKey": str(key), "httpPort": free_port(),
        "tlsPort": free_port(), "ocspResponderURL": "", "externalAccountBindingRequired": False}}))
    with open(tmp_path / "pebble.log", "ab") as log:
        process = subprocess.Popen(["pebble", "-config", str(config), "-dnsserver",
                                    f"127.0.0.1:{named.port}"], stdout=log, stderr=log,
                                   env=child_env(PEBBLE_VA_NOSLEEP="1",
                                                 PEBBLE_WFE_NONCEREJECT="0"))
    try:
        wait_until(lambda: listening(port), "pebble to listen")
        yield f"https://127.0.0.1:{port}/dir", ca, management
    finally:
        stop_process(process)


@pytest.fixture
def acme_server(tmp_path, named, start_server):
    """chipmunk-server publishing to named, with an ACME key for HOME
    (``.key``: its id and secret; ``.base_url``)."""
    key_id, secret, fragment = new_key(HOME, "--acme")
    server = start_server(publishing_config(tmp_path, named) + fragment)
    host, port = server.addresses[0]
    server.key, server.base_url = (key_id, secret), f"http://{host}:{port}"
    return server


def obtain(tmp_path: Path, argv: list[str], **env: str) -> None:
    """Run an ACME client to its end; it must succeed."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=CLIENT_TIMEOUT,
                          env=child_env(**env))
    assert done.returncode == 0, (done.stdout + done.stderr
                                  + (tmp_path / "pebble.log").read_text()[-3000:])


def test_lego_gets_a_certificate_for_a_name_and_its_wildcard(tmp_path, named, pebble,
                                                             acme_server):
    directory_url, pebble_ca, management = pebble
    key_id, secret = acme_server.key
    # what lego's acme-dns provider sends, from lego's exec provider
    hook = tmp_path / "acme-dns-hook"
    hook.write_text(f"""#!/bin/sh
# lego exec: $1 = present|cleanup, $2 = the record's name, $3 = its value
[ "$1" = present ] || exit 0
exec curl -sSf -X POST -H 'X-Api-User: {key_id}' -H 'X-Api-Key: {secret}' \\
    -H 'Content-Type: application/json' \\
    --data "{{\\"subdomain\\": \\"{key_id}\\", \\"txt\\": \\"$3\\"}}" \\
    {acme_server.base_url}/update
""")
    hook.chmod(0o700)
    obtain(tmp_path,
           ["lego", "--server", directory_url, "--accept-tos", "--email", "admin@example.test",
            "--path", str(tmp_path / "lego"), "--domains", HOME, "--domains", f"*.{HOME}",
            "--dns", "exec", "--dns.resolvers", f"127.0.0.1:{named.port}",
            "--dns.disable-cp", "run"],
           LEGO_CA_CERTIFICATES=str(pebble_ca), EXEC_PATH=str(hook),
           EXEC_POLLING_INTERVAL="1", EXEC_PROPAGATION_TIMEOUT="30",
           # lego solves the two challenges one after the other
           EXEC_SEQUENCE_INTERVAL="1")
    chain = tmp_path / "lego" / "certificates" / f"_.{HOME}.crt"
    if not chain.exists():
        chain = tmp_path / "lego" / "certificates" / f"{HOME}.crt"
    verify(tmp_path, chain, pebble_ca, management)
    log = acme_server.stderr()
    assert log.count(f"_acme-challenge.{HOME} TXT now") >= 2, log


def test_acme_sh_gets_a_certificate_with_both_challenges_at_once(tmp_path, pebble,
                                                                  acme_server):
    directory_url, pebble_ca, management = pebble
    key_id, secret = acme_server.key
    home = tmp_path / "acme.sh-home"
    script = Path(os.environ.get("ACME_SH", ACME_SH))
    assert script.exists(), f"{script}: make test unpacks Debian trixie's acme.sh there"
    obtain(tmp_path,
           ["sh", str(script), "--home", str(home), "--config-home", str(home), "--issue",
            "--server", directory_url, "--ca-bundle", str(pebble_ca), "--dns", "dns_acmedns",
            "--dnssleep", "1", "-d", HOME, "-d", f"*.{HOME}", "--accountemail",
            "admin@example.test", "--keylength", "ec-256", "--nocron"],
           ACMEDNS_BASE_URL=acme_server.base_url, ACMEDNS_USERNAME=key_id,
           ACMEDNS_PASSWORD=secret, ACMEDNS_SUBDOMAIN=key_id, HOME=str(home))
    chain = next(home.glob(f"{HOME}*/fullchain.cer"))
    verify(tmp_path, chain, pebble_ca, management)
    log = acme_server.stderr()
    # both challenges were in DNS at once before pebble validated them
    assert re.search(rf"_acme-challenge\.{re.escape(HOME)} TXT now [\w-]{{43}}, [\w-]{{43}}",
                     log), log


def verify(tmp_path: Path, chain: Path, pebble_ca: Path, management: int) -> None:
    """The leaf in ``chain`` names HOME and its wildcard and chains up to
    pebble's root."""
    pems = chain.read_text().split("-----END CERTIFICATE-----")
    leaf = tmp_path / "leaf.pem"
    leaf.write_text(pems[0] + "-----END CERTIFICATE-----\n")
    intermediates = tmp_path / "intermediates.pem"
    intermediates.write_text("-----END CERTIFICATE-----".join(pems[1:]))
    context = ssl.create_default_context(cafile=str(pebble_ca))
    root = tmp_path / "pebble-root.pem"
    with urllib.request.urlopen(f"https://127.0.0.1:{management}/roots/0", context=context,
                                timeout=WAIT) as answer:
        root.write_bytes(answer.read())
    verified = subprocess.run(["openssl", "verify", "-CAfile", str(root), "-untrusted",
                               str(intermediates), str(leaf)], capture_output=True, text=True,
                              timeout=WAIT)
    assert verified.returncode == 0 and ": OK" in verified.stdout, verified.stderr
    names = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in",
                            str(leaf)], capture_output=True, text=True, timeout=WAIT).stdout
    assert f"DNS:{HOME}" in names and f"DNS:*.{HOME}" in names, names
