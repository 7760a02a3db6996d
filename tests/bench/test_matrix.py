"""Real, tiny matrices against a real lab: Locust and wrk runs, the files they leave, and an
interrupted bench."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import LabSettingsFactory, listening, poll_until, processes_mentioning

from asynclab.bench.matrix import Bench
from asynclab.bench.profiles import customise, get_profile
from asynclab.lab import Lab
from asynclab.settings import LabSettings

ROW_TYPES: dict[str, type | tuple[type, ...]] = {
    "scenario": str, "variant": str, "users": int, "repetition": int, "tool": str,
    "rps": float, "p50_ms": float, "p95_ms": (float, type(None)), "p99_ms": float,
    "error_rate": float, "ceiling_rps": (float, type(None)), "generator_cpu": float,
    "flags": list,
}  # fmt: skip


def check_row(row: dict[str, Any]) -> None:
    for key, kind in ROW_TYPES.items():
        value = row[key]
        if kind is float and isinstance(value, int):
            value = float(value)  # JSON writes 2.0 as 2.0, but 0 may come back as an int
        assert isinstance(value, kind), f"{key}={value!r} in {row}"
    assert row["rps"] > 0
    assert row["p50_ms"] <= row["p99_ms"]
    assert 0 <= row["error_rate"] <= 1
    assert 0 <= row["generator_cpu"] <= 1.5
    # The service's process tree was on this machine (a native lab): its memory was sampled.
    assert 0 < row["service_rss_mib"] <= row["service_rss_mib_max"]


@pytest.mark.slow
def test_tiny_matrix_writes_well_formed_results(lab: Lab, tmp_path: Path) -> None:
    profile = customise(get_profile("smoke"), wrk_check=True, calibrate=True)
    lines: list[str] = []
    set_dir = Bench(lab.settings, profile, tmp_path / "results", echo=lines.append).run()

    assert (tmp_path / "results" / "latest").resolve() == set_dir
    summary = json.loads((set_dir / "summary.json").read_text())
    assert (summary["status"], summary["complete"], summary["errors"]) == ("complete", True, [])
    rows = summary["rows"]
    assert {(r["variant"], r["tool"]) for r in rows} == {
        (v, t) for v in ("flask-sync", "fastapi-async") for t in ("locust", "wrk")
    }
    for row in rows:
        check_row(row)
        assert row["ceiling_rps"] == pytest.approx(40.0)  # 2 users ÷ 0.05 s
        assert row["warmup_s"] == profile.warmup_s  # 2 users turn over in 0.05 s
        assert "not_drained" not in row["flags"]
        assert (set_dir / row["run_dir"]).is_dir()
    locust_dir = set_dir / rows[0]["run_dir"]
    for name in ("locust_stats.csv", "locust_stats_history.csv", "locust.html", "events.json"):
        assert (locust_dir / name).exists(), name

    manifest = json.loads((set_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["variants"]["flask-sync"]["processes"] == lab.settings.workers
    assert manifest["cpu_plan"]["generator_cpus"] == lab.settings.generator_cpus
    assert "locust" in manifest["packages"]
    assert manifest["python"]["version"].startswith("3.11")
    # As Postgres ran it (SHOW), where the report finds it.
    assert manifest["postgres"]["synchronous_commit"] == lab.settings.postgres_synchronous_commit
    assert manifest["postgres"]["source"].startswith("SHOW")
    calibration = manifest["calibration"]
    assert calibration["route"] == "/plaintext"
    assert calibration["locust"]["rps"] > 0
    assert calibration["generator_ceiling_rps"] > 0
    # The starts of what the lab served, timed when the lab started them.
    startups = manifest["startup_s"]
    assert {"flask-sync", "fastapi-async"} <= set(startups)
    assert all(s > 0 for seconds in startups.values() for s in seconds)
    # The bench found the lab running: it used it and left it running.
    assert manifest["lab"]["started_by_bench"] is False
    assert lab.manifest() is not None


def test_generator_metrics_go_where_prometheus_scrapes_them(
    lab_settings_factory: LabSettingsFactory, tmp_path: Path
) -> None:
    settings = lab_settings_factory()
    smoke = get_profile("smoke")
    assert Bench(settings, smoke, tmp_path).metrics_port == settings.bench_metrics_port

    lines: list[str] = []
    with listening(settings.bench_metrics_port):  # another bench, say
        bench = Bench(settings, smoke, tmp_path, echo=lines.append)
    assert bench.metrics_port == 0  # any free port: Locust must start all the same
    assert any("Prometheus will not see this bench's generator" in line for line in lines)


def lab_environment(settings: LabSettings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCLAB_")}
    for name, value in settings.model_dump(mode="json").items():
        if name.endswith("_port") or name == "state_dir":
            env[f"ASYNCLAB_{name.upper()}"] = str(value)
    return env


@pytest.mark.slow
@pytest.mark.timeout(420)  # above the bounds of its two waits (180 s and 120 s)
def test_interrupted_bench_keeps_finished_runs_and_stops_its_lab(
    lab_settings_factory: LabSettingsFactory, tmp_path: Path
) -> None:
    settings = lab_settings_factory()
    results = tmp_path / "results"
    asynclab = str(Path(sys.executable).parent / "asynclab")
    cmd = [asynclab, "bench", "--profile", "smoke",
           "--repetitions", "5", "--duration", "3", "--results-dir", str(results)]  # fmt: skip
    env = lab_environment(settings)
    bench = subprocess.Popen(cmd, env=env, cwd=settings.root, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:

        def finished_rows() -> int:
            try:
                return len(json.loads(next(results.glob("*/summary.json")).read_text())["rows"])
            except (OSError, ValueError, StopIteration):
                return 0

        # The bench starts a lab of its own first: on a busy machine that alone takes a minute.
        poll_until(finished_rows, "the first finished run", timeout=180)
        bench.send_signal(signal.SIGINT)
        output, _ = bench.communicate(timeout=120)
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait()
            Lab(settings).down()  # what the killed bench could not stop
    assert bench.returncode == 130, output
    assert "interrupted" in output

    # results/latest names complete sets only.
    assert not (results / "latest").exists()
    (summary_file,) = results.glob("*/summary.json")
    set_dir = summary_file.parent
    summary = json.loads(summary_file.read_text())
    assert (summary["status"], summary["complete"]) == ("interrupted", False)
    assert 1 <= len(summary["rows"]) < summary["planned_runs"] == 10
    for row in summary["rows"]:
        check_row(row)
    manifest = json.loads((set_dir / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert manifest["lab"]["started_by_bench"] is True
    assert not list(set_dir.glob("**/.*.tmp"))
    assert "This set is interrupted" in (set_dir / "report.html").read_text()
    # The bench started the lab, so it stopped it; and no Locust outlives it.
    assert Lab(settings).manifest() is None
    assert processes_mentioning(str(settings.state_dir)) == []
    assert processes_mentioning(str(set_dir)) == []
