"""The client against chipmunk-server over HTTPS: verification and its choices."""
from __future__ import annotations

from helpers import client_config, run_client, server_config
from tlsfiles import tls_files


def https_server(tmp_path, start_server):
    authority, cert, key = tls_files(tmp_path, "server")
    ca = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(ca)
    server = start_server(server_config(
        tmp_path, listen="127.0.0.1:0",
        server=f"tls_certificate = {cert}\ntls_private_key = {key}\n"))
    host, port = server.addresses[0]
    return f"https://localhost:{port}", ca


def test_verification_failure_explains_the_choices(tmp_path, start_server):
    endpoint, ca = https_server(tmp_path, start_server)
    config = tmp_path / "client.ini"
    config.write_text(client_config(endpoint, tmp_path / "state"))
    result = run_client(config, "once")
    assert result.returncode == 69, result.stderr
    assert "TLS verification of localhost:" in result.stderr
    assert "certificate verify failed" in result.stderr
    assert "tls_verify = /path/to/ca.pem" in result.stderr
    assert "tls_verify = no turns checking off (not recommended)" in result.stderr


def test_private_ca_file_and_verification_off(tmp_path, start_server):
    endpoint, ca = https_server(tmp_path, start_server)
    config = tmp_path / "client.ini"
    config.write_text(client_config(endpoint, tmp_path / "state")
                      .replace("timeout = 5", f"timeout = 5\ntls_verify = {ca}"))
    trusted = run_client(config, "once")
    assert trusted.returncode == 0, trusted.stderr
    assert "public address is now 127.0.0.1" in trusted.stderr
    config.write_text(config.read_text().replace(f"tls_verify = {ca}", "tls_verify = no"))
    unchecked = run_client(config, "once")
    assert unchecked.returncode == 0, unchecked.stderr
    assert "tls_verify = no: the server's certificate is not checked" in unchecked.stderr
