"""docker/healthcheck.py: what it probes for each kind of container, against real sockets."""

from __future__ import annotations

import importlib.util
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType

import pytest

from asynclab.lab import upstream_command
from asynclab.settings import LabSettings
from asynclab.variants import VARIANTS
from tests.compose import model


def load_healthcheck() -> ModuleType:
    path = model.ROOT / "docker" / "healthcheck.py"
    spec = importlib.util.spec_from_file_location("healthcheck", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


healthcheck = load_healthcheck()
SETTINGS = LabSettings.model_construct()


@pytest.mark.parametrize("name", VARIANTS)
def test_finds_each_variants_port_in_its_command(name: str) -> None:
    argv = VARIANTS[name].command(SETTINGS, "/app/.venv/bin/python", 8123, "0.0.0.0")
    assert healthcheck.target(argv) == "http://127.0.0.1:8123/healthz"


def test_finds_the_upstreams_port() -> None:
    argv = upstream_command(SETTINGS, "python", 8124, "0.0.0.0")
    assert healthcheck.target(argv) == "http://127.0.0.1:8124/healthz"


@pytest.mark.parametrize("name", ["locust-master", "locust-worker"])
def test_finds_locusts_port_in_its_compose_command(name: str) -> None:
    argv = model.services()[name]["command"]
    expected = {
        "locust-master": f"http://127.0.0.1:{SETTINGS.locust_port}/",
        "locust-worker": "tcp://locust-master:5557",
    }
    assert healthcheck.target(argv) == expected[name]
    # Started as a console script, PID 1 is the interpreter running the script.
    script = ["/app/.venv/bin/python", "/app/.venv/bin/locust", *argv[3:]]
    assert healthcheck.target(script) == expected[name]


class Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_passes_on_200_and_fails_otherwise(server: int) -> None:
    assert healthcheck.main([f"http://127.0.0.1:{server}/healthz"]) == 0
    assert healthcheck.main([f"http://127.0.0.1:{server}/readyz"]) == 1
    assert healthcheck.main([f"http://127.0.0.1:{closed_port()}/healthz"]) == 1


def test_tcp_probe_needs_a_listener(server: int) -> None:
    assert healthcheck.main([f"tcp://127.0.0.1:{server}"]) == 0
    assert healthcheck.main([f"tcp://127.0.0.1:{closed_port()}"]) == 1
