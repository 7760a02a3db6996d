"""The report renders from a small recorded result set (tests/bench/data) alone."""

from __future__ import annotations

import json
import re
import shutil
import statistics
import struct
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from asynclab.bench.cli import report
from asynclab.bench.parity import KIND_TEXT
from asynclab.bench.report import build_report
from asynclab.bench.verdicts import PARITY_LESSONS, SERVER_LESSONS, classify

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


def test_report_shows_memory_per_gib_and_startup_times(result_set: Path) -> None:
    """The recorded quick set, as a bench records it now: resident memory in every row and
    the variants' starts in the manifest."""
    summary = json.loads((result_set / "summary.json").read_text())
    for r in summary["rows"]:
        r["service_rss_mib"] = 178.0 if r["variant"] == "flask-sync" else 81.0
        r["service_rss_mib_max"] = r["service_rss_mib"] + 4
    (result_set / "summary.json").write_text(json.dumps(summary))
    manifest = json.loads((result_set / "manifest.json").read_text())
    manifest["startup_s"] = {"flask-sync": [1.21, 1.43], "fastapi-async": [0.82]}
    (result_set / "manifest.json").write_text(json.dumps(manifest))

    out = build_report(result_set)
    markdown = out.markdown.read_text()
    assert "## Flask needs more workers, and more memory?" in markdown
    assert "charts/memory.png" in markdown
    assert "## Throughput per core and per GiB" in markdown
    assert "| rps per core | rps per GiB | resident memory |" in markdown
    assert "81 MiB (peak 85)" in markdown
    assert "| flask-sync | gunicorn | 3 | 2 | 1.32 | 1.21-1.43 |" in markdown
    # Its own section: the quick profile's three lessons stay as they were.
    verdicts = json.loads((result_set / "verdicts.json").read_text())
    assert [v["lesson"] for v in verdicts] == ["cpu", "io", "pitfall", "memory-flask-sync-io_db"]
    memory = verdicts[-1]
    assert (memory["metric"], memory["challenger_rss_mib"], memory["baseline_rss_mib"]) == (
        "rps_per_gib", 81.0, 178.0)  # fmt: skip
    assert memory["ratio"] == pytest.approx(
        memory["challenger_rps_per_gib"] / memory["baseline_rps_per_gib"], rel=1e-3)  # fmt: skip
    assert "The claim holds here" in out.verdicts[-1]


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


@pytest.fixture
def parity_set(tmp_path: Path) -> Path:
    """A set recorded with ``asynclab bench --profile parity --repetitions 3 --duration 4
    --warmup 2`` on this busy two-core machine (other labs shared its service CPU)."""
    set_dir = tmp_path / "20261202-084742"
    set_dir.mkdir()
    for name in ("summary.json", "manifest.json"):
        shutil.copy(DATA / "parity" / name, set_dir / name)
    return set_dir


def median_ok_rps(rows: list[dict[str, Any]], scenario: str, variant: str, tool: str) -> float:
    """What a verdict compares, computed here again: the median of the unflagged runs (all of
    them when every run is flagged) of successful requests per second."""
    mine = [r for r in rows if (r["scenario"], r["variant"], r["tool"]) == (scenario, variant,
                                                                          tool)]  # fmt: skip
    used = [r for r in mine if not r["flags"]] or mine
    return statistics.median(r["ok_rps"] for r in used)


def locust_outrun(rows: list[dict[str, Any]], scenario: str, variant: str) -> bool:
    """Locust's runs were flagged for the generator, or fell >10% short of wrk's."""
    locust = [r for r in rows if (r["scenario"], r["variant"], r["tool"]) == (scenario, variant,
                                                                            "locust")]  # fmt: skip
    flagged = any({"generator_cpu", "generator_bound"} & set(r["flags"]) for r in locust)
    wrk = median_ok_rps(rows, scenario, variant, "wrk")
    return flagged or median_ok_rps(rows, scenario, variant, "locust") < 0.9 * wrk


def test_report_renders_the_parity_lesson_from_a_recorded_set(parity_set: Path) -> None:
    out = build_report(parity_set)
    rows = json.loads((parity_set / "summary.json").read_text())["rows"]
    found = {v["lesson"]: v for v in json.loads((parity_set / "verdicts.json").read_text())}
    assert {k for k in found if k.startswith("parity-")} == {x.key for x in PARITY_LESSONS}
    for lesson in PARITY_LESSONS:
        v = found[lesson.key]
        tool = v["generator"]
        ratio = median_ok_rps(rows, lesson.scenario, "fastapi-async", tool) / median_ok_rps(
            rows, lesson.scenario, lesson.baseline, tool
        )
        assert v["ratio"] == pytest.approx(ratio, abs=1e-3), lesson.key
        if v["judged"]:
            # A tie within ±15%, from the figures; what explained it, read from the same cells.
            assert v["outcome"] == classify(ratio), lesson.key
            assert v["explained_by"] in KIND_TEXT, lesson.key
            assert v["explanation"] in v["text"] or v["explanation"] in out.markdown.read_text()
        if tool == "wrk":
            # wrk measured it because Locust was outrun on a side: named, and true of the rows.
            assert v["locust_outrun"], lesson.key
            sides = ("fastapi-async", lesson.baseline)
            behind = [x for x in sides if locust_outrun(rows, lesson.scenario, x)]
            assert behind, lesson.key
            assert all(f"{variant} at 64 users" in v["locust_outrun"] for variant in behind)
        else:
            assert v["locust_outrun"] is None, lesson.key
    # This machine's figures: Node and Go answered /json faster than one Locust process asked.
    assert found["parity-go-json"]["generator"] == "wrk"
    # The pools tie all three on /io/db (Little's law: 30 connections ÷ 0.05 s = 600 rps).
    assert {found[f"parity-{r}-io_db"]["outcome"] for r in ("node", "go")} == {"tie"}
    # FastAPI's /fanout runs all outlived their warm-up: not judged, and said so.
    assert found["parity-go-fanout"]["judged"] is False
    assert "every run of fastapi-async was flagged" in found["parity-go-fanout"]["text"]

    markdown = out.markdown.read_text()
    page = out.html.read_text()
    for text in ("## Is FastAPI on par with Node and Go?", "charts/parity.png",
                 "### Throughput and p99 on each route", "FastAPI loses", "a tie",
                 "Locust was outrun", "measured with wrk", "| generator |"):  # fmt: skip
        assert text in markdown, text
    assert "Is FastAPI on par with Node and Go?" in page
    # The closing table: every route, and Flask, FastAPI, Node and Go, each cell's generator.
    closing = markdown.split("### Throughput and p99 on each route")[1].split("\n## ")[0]
    header = (
        "| route | users | flask-sync | flask-gevent | fastapi-async | node-single | go-single |"
    )
    assert header in closing
    for route in ("/json", "/db", "/queries?queries=20", "/io/db?ms=50", "/fanout?calls=5&ms=50"):
        [line] = [x for x in closing.splitlines() if x.startswith(f"| {route} |")]
        assert line.count(" rps, p99 ") == 5, line
        assert ("(wrk)" in line) == (route in ("/json", "/db")), line
    slide = parity_set / "charts" / "parity.png"
    assert slide in out.charts
    assert png_size(slide) == (1920, 1080)
    # Every cell names its generator in the table of ceilings.
    assert "| TechEmpower json | go-single | 64 | wrk |" in markdown
    assert "| TechEmpower json | go-single | 64 | Locust |" in markdown
