"""Metrics with real parts: a real Prometheus scrapes the server, promtool
checks both programs' output, the real node_exporter reads the client's file.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from bind import free_port_tcp_and_udp
from helpers import (
    WAIT,
    basic,
    child_env,
    children_of,
    run_client,
    server_config,
    wait_until,
    write_client_config,
)

ALICE = {"Authorization": basic("alice", "wonderland")}


def get(host: str, port: int, path: str, headers: dict | None = None,
        source: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=WAIT,
                                      source_address=(source, 0) if source else None)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def metrics_server(tmp_path, start_server, workers: int = 2, extra: str = "",
                   options: str = "", **env: str):
    """``options``: more [Server] keys; ``extra``: more sections; ``env``: more
    environment variables."""
    port = free_port_tcp_and_udp()
    state = tmp_path / "state"
    state.mkdir()
    server = start_server(server_config(
        state, listen="127.0.0.1:0",
        server=f"workers = {workers}\nmetrics_listen = 127.0.0.1:{port}\n{options}") + extra,
        **env)
    server.metrics_port = port
    return server


def scrape(server) -> str:
    status, body = get("127.0.0.1", server.metrics_port, "/metrics")
    assert status == 200
    return body.decode()


def value(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{series} not in:\n{text}")


def promtool_check(text: str) -> None:
    result = subprocess.run(["promtool", "check", "metrics"], input=text,
                            capture_output=True, text=True, timeout=WAIT)
    assert result.returncode == 0, result.stdout + result.stderr


class Prometheus:
    """A real Prometheus on loopback scraping one target every second."""

    def __init__(self, directory, target: str) -> None:
        self.port = free_port_tcp_and_udp()
        config = directory / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                          "scrape_configs:\n  - job_name: chipmunk\n    static_configs:\n"
                          f"      - targets: ['{target}']\n")
        self.log = directory / "prometheus.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                ["prometheus", f"--config.file={config}",
                 f"--storage.tsdb.path={directory / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def query(self, expression: str) -> float | None:
        url = (f"http://127.0.0.1:{self.port}/api/v1/query?"
               + urllib.parse.urlencode({"query": expression}))
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                result = json.load(answer)["data"]["result"]
        except OSError:
            return None
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=WAIT)


def test_prometheus_sees_the_sum_over_two_workers_even_after_one_died(
        tmp_path, start_server):
    server = metrics_server(tmp_path, start_server)
    host, port = server.addresses[0]
    sources = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"]
    for source in sources * 5:
        assert get(host, port, "/get/ip", ALICE, source)[0] == 200
    assert get(host, port, "/get/ip", {"Authorization": basic("alice", "x")})[0] == 401
    (tmp_path / "prometheus").mkdir()
    prometheus = Prometheus(tmp_path / "prometheus", f"127.0.0.1:{server.metrics_port}")
    try:
        total = 'sum(chipmunk_requests_total{route="/get/ip",status="200"})'
        wait_until(lambda: prometheus.query(total) == 20, "Prometheus to see 20 requests",
                   timeout=60)
        assert prometheus.query("chipmunk_workers") == 2
        assert prometheus.query("chipmunk_failed_logins_total") == 1

        worker = sorted(children_of(server.process.pid))[0]
        os.kill(worker, signal.SIGKILL)
        wait_until(lambda: prometheus.query("chipmunk_worker_respawns_total") == 1,
                   "the respawn to be counted", timeout=60)
        for source in sources:
            assert get(host, port, "/get/ip", ALICE, source)[0] == 200
        wait_until(lambda: prometheus.query(total) == 24,
                   "the dead worker's requests to stay in the sum", timeout=60)
    finally:
        prometheus.stop()


def test_a_lockout_is_one_network_whichever_worker_reports_it(tmp_path, start_server):
    """Both workers read the one shared lockout table: the gauge is not the sum."""
    server = metrics_server(tmp_path, start_server, options="auth_failure_limit = 2\n")
    host, port = server.addresses[0]
    wrong = {"Authorization": basic("alice", "x")}
    assert [get(host, port, "/ip", wrong)[0] for _ in range(3)] == [401, 401, 429]
    wait_until(lambda: value(scrape(server), "chipmunk_lockouts_total") == 1,
               "the lockout to be counted")
    wait_until(lambda: value(scrape(server), "chipmunk_locked_out_networks") == 1,
               "both workers to see the lockout")
    assert all(value(scrape(server), "chipmunk_locked_out_networks") == 1 for _ in range(10))


def test_the_exposition_passes_promtool_and_names_no_user_or_address(
        tmp_path, start_server):
    hostnames = "\n[Hostnames]\nalice = home.example.org\n"
    server = metrics_server(tmp_path, start_server, workers=1, extra=hostnames,
                            options="publish_non_global = yes\n")
    host, port = server.addresses[0]
    for query in ("hostname=home.example.org&myip=192.0.2.7",
                  "hostname=home.example.org&myip=192.0.2.7", "hostname=x.example.org",
                  "hostname=home.example.org&myip=bad"):
        assert get(host, port, f"/nic/update?{query}", ALICE)[0] == 200
    get(host, port, "/nic/update?hostname=home.example.org")
    get(host, port, "/set", ALICE)
    # requests reach the shared values within a second (each process flushes)
    series = 'chipmunk_requests_total{route="/nic/update",status="401"}'
    wait_until(lambda: series in scrape(server), "the requests to be flushed")
    text = scrape(server)
    promtool_check(text)
    assert value(text, 'chipmunk_dyndns_updates_total{result="good"}') == 1
    assert value(text, 'chipmunk_dyndns_updates_total{result="nochg"}') == 1
    assert value(text, 'chipmunk_dyndns_updates_total{result="nohost"}') == 1
    assert value(text, 'chipmunk_dyndns_updates_total{result="dnserr"}') == 1
    assert value(text, 'chipmunk_dyndns_updates_total{result="badauth"}') == 1
    # the good one; the nochg was answered from the known state, without a call
    assert value(text, 'chipmunk_publishes_total{provider="state"}') == 1
    assert value(text, "chipmunk_set_changes_total") == 1
    assert value(text, series) == 1
    assert value(text, 'chipmunk_requests_total{route="/nic/update",status="200"}') == 4
    assert value(text, 'chipmunk_request_duration_seconds_count{route="/nic/update"}') == 5
    assert value(text, 'chipmunk_request_duration_seconds_bucket{le="+Inf",'
                       'route="/nic/update"}') == 5, "the buckets add up"
    assert 0 < value(text, 'chipmunk_request_duration_seconds_sum{route="/nic/update"}') < 5
    assert value(text, "chipmunk_failed_logins_total") == 0, "no credentials: no failure"
    assert "alice" not in text and "192.0.2.7" not in text and "127.0.0.1" not in text


def test_a_process_file_caught_before_it_is_sized_fails_no_scrape(tmp_path, start_server):
    """prometheus_client makes a process's values file empty and sizes it a
    moment later (client_python#1199, open): a scrape in between -- or every
    scrape after, when the process was killed in between -- raised, and the
    whole exposition was a 500.  An empty file has nothing recorded yet."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    server = metrics_server(tmp_path, start_server, workers=1, TMPDIR=str(temporary))
    host, port = server.addresses[0]
    assert get(host, port, "/get/ip", ALICE)[0] == 200
    series = 'chipmunk_requests_total{route="/get/ip",status="200"}'
    wait_until(lambda: series in scrape(server), "the request to be flushed")
    [directory] = temporary.glob("chipmunk-metrics-*")
    gone = 2 ** 22 + 1  # above pid_max's default: a process that is not there
    for kind in ("counter", "histogram", "gauge_livemax", "gauge_livesum", "gauge_all"):
        (directory / f"{kind}_{gone}.db").touch()
    text = scrape(server)
    assert value(text, series) == 1
    promtool_check(text)


def test_metrics_are_apart_from_the_api(tmp_path, start_server):
    server = metrics_server(tmp_path, start_server, workers=1)
    host, port = server.addresses[0]
    assert get(host, port, "/metrics", ALICE)[0] == 404, "not on the public port"
    assert get("127.0.0.1", server.metrics_port, "/get/ip", ALICE)[0] == 404
    assert get("127.0.0.1", server.metrics_port, "/metrics")[0] == 200, "no password"


def test_reloads_and_load_time_are_counted(tmp_path, start_server):
    server = metrics_server(tmp_path, start_server, workers=1)
    server.send_signal(signal.SIGHUP)
    server.notify.wait_for("READY", "1")
    text = scrape(server)
    assert value(text, 'chipmunk_reloads_total{result="ok"}') == 1
    assert 0 < value(text, "chipmunk_config_load_seconds") < 5


@pytest.mark.parametrize("metrics, listen", [
    ("127.0.0.1:8080", "127.0.0.1:8080"), ("127.0.0.1:8080", "0.0.0.0:8080"),
    ("[::]:8080", "[::1]:8080, 127.0.0.1:9000"),
    # "[::]" is dual-stack: it takes the IPv4 connections of its port too
    ("0.0.0.0:8080", "[::]:8080"), ("127.0.0.1:8080", "[::]:8080"),
    ("[::]:8080", "127.0.0.1:8080")])
def test_check_refuses_metrics_on_the_api_port(tmp_path, metrics, listen):
    config = tmp_path / "server.ini"
    config.write_text(server_config(tmp_path, listen=listen,
                                    server=f"metrics_listen = {metrics}\n"))
    result = subprocess.run([sys.executable, "-m", "chipmunk.server.cli", "--config",
                             str(config), "check"], capture_output=True, text=True,
                            timeout=WAIT, env=child_env())
    assert result.returncode == 78, result.stderr
    assert "[Server] metrics_listen" in result.stderr and "overlaps listen" in result.stderr


def test_the_client_file_for_node_exporter(tmp_path, chipmunk_server):
    textfiles = tmp_path / "textfiles"
    textfiles.mkdir()
    prom = textfiles / "chipmunk.prom"
    section = (f"[hostsfile]\npath = {tmp_path}/hosts\nhost = home.lan\n"
               "record_types = A, AAAA\n")
    config = write_client_config(tmp_path / "client.ini", chipmunk_server.endpoint,
                                 tmp_path / "state", "hostsfile", section,
                                 endpoint6=chipmunk_server.endpoint6)
    config.write_text(config.read_text().replace(
        "[Global]\n", f"[Global]\nmetrics_file = {prom}\n"))
    result = run_client(config, "once")
    assert result.returncode == 0, result.stderr
    text = prom.read_text()
    promtool_check(text)
    assert stat.S_IMODE(prom.stat().st_mode) == 0o644, "node_exporter runs as its own user"
    samples = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert samples and all(len(line.split()) == 2 for line in samples), \
        "series and value only: node_exporter drops a file with timestamps"
    assert value(text, "chipmunk_client_last_check_success") == 1
    assert value(text, 'chipmunk_client_address_info{address="127.0.0.1",family="ipv4"}') == 1
    series = '{name="home.lan",provider="hostsfile",type="A"}'
    assert value(text, f"chipmunk_client_record_consecutive_failures{series}") == 0
    assert value(text, f"chipmunk_client_record_needs_attention{series}") == 0
    assert time.time() - value(text, f"chipmunk_client_record_last_success_timestamp_seconds"
                                     f"{series}") < 60
    assert [path.name for path in textfiles.iterdir()] == ["chipmunk.prom"]

    port = free_port_tcp_and_udp()
    exporter = subprocess.Popen(
        ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{port}",
         f"--collector.textfile.directory={textfiles}", "--collector.disable-defaults",
         "--collector.textfile"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def exported() -> str | None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                            timeout=5) as answer:
                    return answer.read().decode()
            except OSError:
                return None
        wait_until(exported, "node_exporter to answer")
        text = exported() or ""
        assert value(text, "chipmunk_client_last_check_success") == 1
        assert value(text, "node_textfile_scrape_error") == 0, \
            "the real node_exporter accepts the file"
    finally:
        exporter.terminate()
        exporter.wait(timeout=WAIT)
