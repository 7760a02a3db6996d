"""``asynclab serve``: one service in the foreground, as compose's containers run it.

tests/compose/test_consistency.py proves it builds the native runner's command and
environment; here it runs for real against the session's lab, and refuses bad input clearly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
from click.testing import CliRunner
from helpers import free_port, poll_until, terminate

from asynclab.lab import Lab
from asynclab.serve import fresh_metrics_dir, serve
from asynclab.settings import ROOT


def test_serves_a_variant_as_the_process_it_started(lab: Lab, tmp_path: Path) -> None:
    s = lab.settings
    port = free_port()
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    (metrics / "counter_123.db").write_bytes(b"stale")  # an earlier run's counts
    argv = [sys.executable, "-m", "asynclab.serve", "fastapi-workers", "--port", str(port),
            "--database-url", s.database_url(), "--upstream-url", s.upstream_url,
            "--metrics-dir", str(metrics)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCLAB_")}
    proc = subprocess.Popen(argv, cwd=tmp_path, env={**env, "ASYNCLAB_WORKERS": "2"})
    try:

        def ready() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        poll_until(ready, "asynclab serve fastapi-workers to answer", timeout=60)
        # exec: the pid we started is gunicorn now, with the variant's workers under it.
        server = psutil.Process(proc.pid)
        assert "gunicorn" in server.cmdline()
        assert len(server.children()) == 2
        assert server.cwd() == str(ROOT)
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert 'variant="fastapi-workers"' in text
        assert not (metrics / "counter_123.db").exists()
    finally:
        terminate(proc)
    assert proc.returncode == 0


def test_an_unknown_variant_is_refused_with_the_choices() -> None:
    result = CliRunner().invoke(serve, ["flask-turbo", "--port", "8001"])
    assert result.exit_code == 2
    assert "flask-turbo" in result.output
    assert "flask-gthread" in result.output
    assert "upstream" in result.output


def test_a_bad_setting_is_named() -> None:
    result = CliRunner().invoke(
        serve, ["flask-sync", "--port", "8001"], env={"ASYNCLAB_WORKERS": "zero"}
    )
    assert result.exit_code == 1
    assert "ASYNCLAB_WORKERS='zero'" in result.output
    assert "Traceback" not in result.output


def test_a_port_out_of_range_is_refused() -> None:
    result = CliRunner().invoke(serve, ["flask-sync", "--port", "70000"])
    assert result.exit_code == 2
    assert "--port" in result.output


def test_fresh_metrics_dir_removes_only_prometheus_files(tmp_path: Path) -> None:
    (tmp_path / "gauge_livesum_1.db").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("mine")
    fresh_metrics_dir(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    fresh_metrics_dir(tmp_path / "new")
    assert (tmp_path / "new").is_dir()
