"""Slow clients: connections that send nothing, or their request head a byte at a time.

Every variant that multiplexes connections (gevent, uvicorn, granian, Node, Go's goroutines) or
buffers them (nginx in front of flask-sync) closes such a connection once its request head is not
complete within 5 s (Go: of its first byte, on a kept-alive connection), and serves other
clients meanwhile. flask-sync and flask-gthread read with blocking calls and are
held by slow clients: that is their model, measured by ``scripts/bench_slow_clients.py`` and
explained in the README, not tested here.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
from helpers import poll_until

from asynclab.lab import Lab
from asynclab.registry import SERVICES
from asynclab.variants import VARIANTS, Framework, Variant

SLOW_CLIENT_SAFE = ["flask-gevent", "flask-sync-nginx", "fastapi-async", "fastapi-workers",
                    "fastapi-def", "flask-granian", "fastapi-granian",
                    "node-single", "node-cluster", "go-single", "go-multi"]  # fmt: skip
CONNECTIONS = 20  # of each kind: well within gevent's 100 connections per worker


@pytest.fixture(scope="module")
def defaults_restored(lab: Lab) -> Iterator[None]:
    yield
    defaults: dict[Framework, str] = {name: lab.settings.variant(name) for name in SERVICES}
    for framework, name in defaults.items():
        lab.switch(framework, name)


@pytest.fixture(scope="module", params=SLOW_CLIENT_SAFE)
def port(request: pytest.FixtureRequest, lab: Lab, defaults_restored: None) -> int:
    """The port of the variant under test, serving (one switch per variant and module)."""
    variant: Variant = VARIANTS[request.param]
    lab.switch(variant.framework, variant.name)
    s = lab.settings
    return s.port(variant.framework)


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server closed (or reset) the connection; reads whatever it sent first."""
    try:
        while sock.recv(4096, socket.MSG_DONTWAIT):
            pass
    except BlockingIOError:
        return False
    except OSError:
        return True  # reset
    return True


def test_the_variant_table_names_every_variant_here() -> None:
    assert set(SLOW_CLIENT_SAFE) <= set(VARIANTS)


def test_slow_clients_are_closed_and_others_served(lab: Lab, port: int) -> None:
    s = lab.settings
    idle = [socket.create_connection((s.host, port)) for _ in range(CONNECTIONS)]
    slow = [socket.create_connection((s.host, port)) for _ in range(CONNECTIONS)]
    stop = threading.Event()

    def trickle() -> None:  # one more header line a second: never a complete request head
        for sock in slow:
            sock.sendall(b"GET /json HTTP/1.1\r\nHost: lab\r\n")
        while not stop.wait(1.0):
            for sock in slow:
                try:
                    sock.send(b"X-Slow: 1\r\n")
                except OSError:
                    continue

    sender = threading.Thread(target=trickle)
    sender.start()
    try:
        served = httpx.get(f"{s.url(port)}/json", timeout=30, trust_env=False)
        assert served.status_code == 200
        everyone = idle + slow
        poll_until(lambda: all(closed_by_server(c) for c in everyone), "slow clients closed", 60)
    finally:
        stop.set()
        sender.join()
        for sock in idle + slow:
            sock.close()


def test_a_kept_alive_connection_that_falls_silent_is_closed(lab: Lab, port: int) -> None:
    s = lab.settings
    with socket.create_connection((s.host, port)) as sock:
        sock.sendall(b"GET /json HTTP/1.1\r\nHost: lab\r\n\r\n")
        answer = b""
        while b"Hello, World!" not in answer:
            chunk = sock.recv(4096)
            assert chunk, f"closed before the answer: {answer!r}"
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /json HTTP/1.1\r\n")  # the next request starts, and never ends
        poll_until(lambda: closed_by_server(sock), "the half-sent request to be dropped", 60)
