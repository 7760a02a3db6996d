"""The report renders from a small recorded result set (tests/bench/data) alone."""

from __future__ import annotations

import json
import re
import shutil
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

from asynclab.bench.cli import report
from asynclab.bench.report import build_report
from asynclab.bench.verdicts import SERVER_LESSONS

DATA = Path(__file__).parent / "data"


@pytest.fixture
def result_set(tmp_path: Path) -> Path:
    set_dir = tmp_path / "20260101-000000"
    set_dir.mkdir()
    for name in ("summary.json", "manifest.json"):
        shutil.copy(DATA / name, set_dir / name)
    return set_dir


def png_size(path: Path) -> tuple[int, int]:
    width, height = struct.unpack(">II", path.read_bytes()[16:24])
    return width, height


def test_report_has_every_chart_inlined_and_the_verdicts(result_set: Path) -> None:
    out = build_report(result_set)
    summary = json.loads((result_set / "summary.json").read_text())
    scenarios = {r["scenario"] for r in summary["rows"]}

    expected = {f"{kind}_{s}.{ext}" for kind in ("throughput", "latency") for s in scenarios
                for ext in ("png", "svg")}  # fmt: skip
    assert {p.name for p in out.charts} == expected
    for chart in out.charts:
        assert chart.stat().st_size > 1000
        if chart.suffix == ".png":
            assert png_size(chart) == (1920, 1080)
        else:
            assert chart.read_text().lstrip().startswith("<?xml")

    page = out.html.read_text()
    # Self-contained: every chart is inlined and nothing is fetched from elsewhere.
    assert page.count("data:image/png;base64,") == len(expected) // 2
    assert not re.search(r'(src|href)="(https?:)?//', page)
    markdown = out.markdown.read_text()
    for chart in (c for c in out.charts if c.suffix == ".png"):
        assert f"charts/{chart.name}" in markdown

    assert len(out.verdicts) == 3
    for text in ("CPU-bound pure Python", "Waiting on the database", "Blocking call inside"):
        assert text in page
        assert text in markdown
    for text in ("coordinated omission", "Locust against wrk", "Generator calibration",
                 "Every cell against its ceiling", "buffering proxy"):  # fmt: skip
        assert text in page
    verdicts = json.loads((result_set / "verdicts.json").read_text())
    assert [v["lesson"] for v in verdicts] == ["cpu", "io", "pitfall"]
    assert {v["outcome"] for v in verdicts if v["lesson"] != "cpu"} == {"win", "loss"}


def test_incomplete_set_says_so(result_set: Path) -> None:
    summary = json.loads((result_set / "summary.json").read_text())
    summary.update(status="interrupted", complete=False, rows=summary["rows"][:3])
    (result_set / "summary.json").write_text(json.dumps(summary))
    out = build_report(result_set)
    assert "This set is interrupted: 3 of" in out.html.read_text()


def test_report_command_finds_latest(result_set: Path) -> None:
    (result_set.parent / "latest").symlink_to(result_set.name)
    done = CliRunner().invoke(report, ["--results", str(result_set.parent)])
    assert done.exit_code == 0, done.output
    assert "report: " in done.output
    assert (result_set / "report.html").exists()


def test_report_command_without_results(tmp_path: Path) -> None:
    done = CliRunner().invoke(report, ["--results", str(tmp_path)])
    assert done.exit_code != 0
    assert "no summary.json" in done.output


def test_flagged_lesson_is_not_judged_and_infra_cpu_is_shown(result_set: Path) -> None:
    summary = json.loads((result_set / "summary.json").read_text())
    for r in summary["rows"]:
        r["ok_rps"] = r["rps"]
        r["infra_cpu"] = 0.25
        if r["scenario"] == "io_db" and r["variant"] == "fastapi-async":
            r["flags"] = ["errors"]
    (result_set / "summary.json").write_text(json.dumps(summary))
    out = build_report(result_set)
    page = out.html.read_text()
    assert "Waiting on the database" in page
    assert "64 users: not judged: every run of fastapi-async was flagged" in page
    verdicts = {v["lesson"]: v for v in json.loads((result_set / "verdicts.json").read_text())}
    assert (verdicts["io"]["judged"], verdicts["io"]["outcome"]) == (False, None)
    assert "Postgres and the upstream are not pinned" in page
    assert "infra CPU (cores)" in page
    assert "<td>0.25</td>" in page
    assert "measured CPU capacity" in page


def with_updates(result_set: Path, postgres: dict[str, str] | None) -> None:
    """The recorded set plus an /updates cell (the io_db rows, renamed), as a bench records it."""
    summary = json.loads((result_set / "summary.json").read_text())
    summary["rows"] += [{**r, "scenario": "updates"} for r in summary["rows"]
                        if r["scenario"] == "io_db"]  # fmt: skip
    (result_set / "summary.json").write_text(json.dumps(summary))
    manifest = json.loads((result_set / "manifest.json").read_text())
    manifest["scenarios"]["updates"] = {
        "path": "/updates?queries=20",
        "bound": "postgres",
        "title": "TechEmpower updates (20)",
        "writes": True,
    }
    if postgres is not None:
        manifest["postgres"] = postgres
    (result_set / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("mode", ["on", "off"])
def test_write_figures_say_how_postgres_committed(result_set: Path, mode: str) -> None:
    with_updates(result_set, {"synchronous_commit": mode, "source": "SHOW"})
    out = build_report(result_set)
    for text in (out.html.read_text(), out.markdown.read_text()):
        # The header, the chart's heading and note, and every row of the table say it.
        assert f"TechEmpower updates (20) (synchronous_commit={mode})" in text
        assert text.count(f"Postgres ran with synchronous_commit={mode}") == 2
        assert "TechEmpower updates (20) |" not in text  # no row without it
        # Scenarios that do not write are not labelled.
        assert "I/O wait in Postgres, 50 ms (synchronous_commit" not in text


def test_a_set_that_predates_the_record_says_so(result_set: Path) -> None:
    with_updates(result_set, None)
    page = build_report(result_set).html.read_text()
    assert "TechEmpower updates (20) (synchronous_commit=not recorded)" in page
    assert "synchronous_commit was not recorded for this set" in page


@pytest.fixture
def servers_set(tmp_path: Path) -> Path:
    """A set recorded with ``asynclab bench --profile servers`` on this busy machine."""
    set_dir = tmp_path / "20261202-052506"
    set_dir.mkdir()
    for name in ("summary.json", "manifest.json"):
        shutil.copy(DATA / "servers" / name, set_dir / name)
    return set_dir


def test_report_renders_the_servers_lesson_from_a_recorded_set(servers_set: Path) -> None:
    out = build_report(servers_set)
    verdicts = json.loads((servers_set / "verdicts.json").read_text())
    assert [v["lesson"] for v in verdicts] == [lesson.key for lesson in SERVER_LESSONS]
    by_key = {v["lesson"]: v for v in verdicts}
    # Computed from the rows, like every verdict: medians of three runs, ratio and outcome.
    flask_json = by_key["flask-servers-json"]
    assert (flask_json["challenger"], flask_json["baseline"]) == ("flask-granian", "flask-gthread")
    assert flask_json["ratio"] == pytest.approx(2301.2 / 1391.0, rel=1e-3)
    assert flask_json["outcome"] == "win"
    assert flask_json["text"].endswith("(\u00d72.15).")  # the measured CPU capacities explain it
    io = by_key["granian-frameworks-io_db"]
    assert (io["outcome"], io["ceiling_ratio"]) == ("win", 1.25)  # 30 connections vs 3 x 8
    assert all(v["judged"] for v in verdicts)

    markdown = out.markdown.read_text()
    page = out.html.read_text()
    for text in ("### Servers and frameworks", "granian wins", "FastAPI wins",
                 "Service CPU per request: 0.383 ms vs 0.610 ms (\u00d70.63)"):  # fmt: skip
        assert text in markdown
    assert "Servers and frameworks" in page
    assert "async wins" not in markdown  # the server lessons speak of servers and frameworks
    assert "granian 2.8.9" in markdown  # the environment names the server's version
    assert {p.name for p in out.charts if p.suffix == ".png"} == {
        f"{kind}_{s}.png" for kind in ("throughput", "latency") for s in ("json", "db", "io_db")
    }
