"""Throwaway certificates (trustme's CA) and an HTTPS request with them."""
from __future__ import annotations

import http.client
import ssl

import trustme

from helpers import WAIT, basic

ALICE = {"Authorization": basic("alice", "wonderland")}


def tls_files(tmp_path, name: str):
    authority = trustme.CA()
    cert = authority.issue_cert("localhost", "127.0.0.1", "::1")
    cert_path, key_path = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert.cert_chain_pems[0].write_to_path(cert_path)
    for pem in cert.cert_chain_pems[1:]:
        pem.write_to_path(cert_path, append=True)
    cert.private_key_pem.write_to_path(key_path)
    return authority, cert_path, key_path


def https_get(address, context: ssl.SSLContext, path: str = "/get/ip"):
    connection = http.client.HTTPSConnection(*address, timeout=WAIT, context=context)
    try:
        connection.request("GET", path, headers=ALICE)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def client_context(authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    authority.configure_trust(context)
    return context
