"""Which worker's socket a connection lands on, read from the real sockets."""
from __future__ import annotations

import collections
import socket

import pytest

from chipmunk.server.daemon import open_listeners
from chipmunk.server.settings import SCHEMA, settings_from


def listeners(server: str) -> list[list[socket.socket]]:
    text = f"[Server]\nlisten = 127.0.0.1:0, [::1]:0\nworkers = 2\n{server}\n[Users]\n"
    return open_listeners(settings_from(SCHEMA.load_text(text)))


def landings(sets: list[list[socket.socket]], which: int, source: str,
             count: int = 20) -> collections.Counter:
    """How many of ``count`` connections from ``source`` each copy accepted."""
    family = sets[0][which].family
    port = sets[0][which].getsockname()[1]
    host = "127.0.0.1" if family == socket.AF_INET else "::1"
    for sockets in sets:
        sockets[which].setblocking(False)
    hits: collections.Counter = collections.Counter()
    for _ in range(count):
        with socket.socket(family) as client:
            client.bind((source, 0))
            client.connect((host, port))
            for copy, sockets in enumerate(sets):
                try:
                    accepted, _ = sockets[which].accept()
                except BlockingIOError:
                    continue
                accepted.close()
                hits[copy] += 1
    return hits


@pytest.fixture
def close_all():
    opened: list[list[list[socket.socket]]] = []
    yield opened.append
    for sets in opened:
        for sockets in sets:
            for sock in sockets:
                sock.close()


def test_one_client_network_lands_on_one_worker_and_networks_spread(close_all):
    sets = listeners("")
    close_all(sets)
    per_source = {source: landings(sets, 0, source)
                  for source in ("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")}
    assert all(len(hits) == 1 and sum(hits.values()) == 20 for hits in per_source.values())
    assert {next(iter(hits)) for hits in per_source.values()} == {0, 1}, "both workers used"
    ipv6 = landings(sets, 1, "::1")
    assert len(ipv6) == 1 and sum(ipv6.values()) == 20


def test_behind_a_proxy_one_address_spreads_over_the_workers(close_all):
    """Every connection comes from the proxy: steering would give one worker all."""
    sets = listeners("trusted_proxies = 127.0.0.1\n")
    close_all(sets)
    hits = landings(sets, 0, "127.0.0.1", count=40)
    assert sum(hits.values()) == 40 and len(hits) == 2
