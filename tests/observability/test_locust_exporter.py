"""The Locust exporter when its port is taken: Locust runs on, says why Prometheus will not see
it, and its web UI still serves the figures at ``/metrics``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers import free_ports, listening, poll_until, terminate

from asynclab.settings import ROOT

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


@pytest.fixture
def web_ui_on_a_taken_metrics_port(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A Locust web UI (no load started) whose metrics port another program holds."""
    web_port, metrics_port, nowhere = free_ports(3)
    log = tmp_path / "locust.log"
    env = {
        **os.environ,
        "LOCUST_METRICS_PORT": str(metrics_port),
        # Never contacted: no test is started.
        "FLASK_URL": f"http://127.0.0.1:{nowhere}",
        "FASTAPI_URL": f"http://127.0.0.1:{nowhere}",
    }
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
    argv += ["--web-host", "127.0.0.1", "--web-port", str(web_port)]
    with listening(metrics_port), log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield f"http://127.0.0.1:{web_port}", log
            assert proc.poll() is None, f"Locust exited:\n{log.read_text()}"
        finally:
            terminate(proc)


def test_a_taken_port_costs_only_the_exporter(
    web_ui_on_a_taken_metrics_port: tuple[str, Path],
) -> None:
    url, log = web_ui_on_a_taken_metrics_port

    def metrics() -> str | None:
        try:
            response = httpx.get(f"{url}/metrics", timeout=2, trust_env=False)
        except httpx.HTTPError:
            return None
        return response.text if response.status_code == 200 else None

    assert "locust_users" in poll_until(metrics, "the web UI's /metrics")
    assert "Prometheus will not see this Locust" in log.read_text()
