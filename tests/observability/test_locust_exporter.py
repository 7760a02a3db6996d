"""The Locust exporter: when its port is taken, Locust runs on, says why Prometheus will not see
it, and its web UI still serves the figures at ``/metrics``; at the end of a run it waits, as
long as it is told, for the scrape of its final figures."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers import free_ports, listening, poll_until, terminate

from asynclab.registry import SERVICES
from asynclab.settings import ROOT

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


def nowhere_urls(port: int) -> dict[str, str]:
    """The locustfile's ``<SERVICE>_URL`` for every service of the registry, all at ``port``."""
    return {f"{name.upper()}_URL": f"http://127.0.0.1:{port}" for name in SERVICES}


@pytest.fixture
def web_ui_on_a_taken_metrics_port(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A Locust web UI (no load started) whose metrics port another program holds."""
    web_port, metrics_port, nowhere = free_ports(3)
    log = tmp_path / "locust.log"
    env = {
        **os.environ,
        "LOCUST_METRICS_PORT": str(metrics_port),
        # Never contacted: no test is started.
        **nowhere_urls(nowhere),
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


def headless_run(tmp_path: Path, final_scrape_s: str) -> tuple[subprocess.Popen[bytes], int, Path]:
    """A one-second headless run (its requests refused: only the exporter matters here)."""
    metrics_port, nowhere = free_ports(2)
    log = tmp_path / "locust.log"
    env = {
        **os.environ,
        "LOCUST_METRICS_PORT": str(metrics_port),
        "LOCUST_METRICS_FINAL_SCRAPE_S": final_scrape_s,
        **nowhere_urls(nowhere),
    }
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"]
    argv += ["-u", "1", "-r", "1", "-t", "1s", "--only-summary"]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return proc, metrics_port, log


def test_a_run_waits_for_the_scrape_of_its_final_figures(tmp_path: Path) -> None:
    """Without it, Prometheus never sees a run's last seconds, or a short run at all."""
    proc, port, log = headless_run(tmp_path, "600")
    try:
        poll_until(lambda: "--run-time limit reached" in log.read_text(), "the run to end")
        assert "Shutting down (exit code" not in log.read_text()
        assert proc.poll() is None, log.read_text()
        scraped: list[str] = []

        def scrape_until_it_quits() -> bool:  # as Prometheus does, every interval
            with contextlib.suppress(httpx.HTTPError):
                url = f"http://127.0.0.1:{port}/metrics"
                scraped.append(httpx.get(url, timeout=10, trust_env=False).text)
            return proc.poll() is not None

        poll_until(scrape_until_it_quits, "Locust to quit after its final scrape")
        assert "Shutting down (exit code" in log.read_text()
        final = scraped[-1]
        assert re.search(r"^locust_running\{[^}]*\} 0\.0$", final, re.M), final
        total = r'^locust_requests_total\{[^}]*name="Aggregated"[^}]*\} [1-9]'
        assert re.search(total, final, re.M), final
    finally:
        terminate(proc)


def test_a_run_nobody_scrapes_quits_after_the_bound_and_says_so(tmp_path: Path) -> None:
    proc, _port, log = headless_run(tmp_path, "0.5")
    try:
        poll_until(lambda: proc.poll() is not None, "Locust to quit")
        assert "no scrape of the generator's final figures within 0.5 s" in log.read_text()
    finally:
        terminate(proc)
