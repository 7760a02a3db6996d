"""The memory lesson, its ceiling rule and the figures per core and per GiB, from crafted
summaries."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from asynclab.bench import memory
from asynclab.bench.document import Block, Para, Table
from asynclab.bench.profiles import PROFILES
from asynclab.bench.sampler import tree_resident_bytes
from asynclab.bench.verdicts import (
    LESSONS,
    MEMORY_LESSONS,
    TIMES,
    Cell,
    Spread,
    cells,
    verdicts,
)

TITLES = {"io_db": "I/O wait", "json": "JSON"}
MANIFEST: dict[str, Any] = {
    "variants": {
        "flask-sync": {"server": "gunicorn", "processes": 3, "proxy": None},
        "fastapi-async": {"server": "uvicorn", "processes": 1, "proxy": None},
    }
}


def row(variant: str, rps: float, rss: float | None, rep: int = 1, **extra: Any) -> dict[str, Any]:
    """An /io/db run at 64 users that served ``rps`` holding ``rss`` MiB."""
    return {"scenario": "io_db", "variant": variant, "users": 64, "repetition": rep,
            "tool": "locust", "rps": rps, "ok_rps": rps, "p50_ms": 10.0, "p99_ms": 20.0,
            "flags": [], "ceiling_rps": 600.0, "ceiling_note": "30 connections",
            "service_rss_mib": rss, "service_rss_mib_max": None if rss is None else rss + 4,
            **extra}  # fmt: skip


def table(blocks: list[Block]) -> Table:
    [found] = [b for b in blocks if isinstance(b, Table)]
    return found


def texts(blocks: list[Block]) -> str:
    return " ".join(b.text for b in blocks if isinstance(b, Para))


def judged(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {v.lesson.baseline: v for v in verdicts(rows, TITLES, MEMORY_LESSONS)}


def test_memory_lessons_are_flasks_deployments_against_fastapi_in_full() -> None:
    full = PROFILES["full"]
    planned = {(c.scenario, v) for c in full.cells for v in full.variants}
    for lesson in MEMORY_LESSONS:
        assert lesson.metric == "rps_per_gib"
        assert (lesson.scenario, lesson.challenger) in planned, lesson.key
        assert (lesson.scenario, lesson.baseline) in planned, lesson.key
    assert {x.baseline for x in MEMORY_LESSONS} == {"flask-sync", "flask-gthread", "flask-gevent"}
    # quick keeps its three lessons, and its matrix.
    assert [x.key for x in LESSONS] == ["cpu", "io", "pitfall"]
    assert set(PROFILES["quick"].variants) == {"flask-sync", "fastapi-async"}


def test_requests_per_gib_decide_with_their_spread() -> None:
    rows = [
        row("fastapi-async", 590, 80, 1), row("fastapi-async", 600, 82, 2),
        row("flask-sync", 57, 176, 1, ceiling_rps=60.0),
        row("flask-sync", 59, 180, 2, ceiling_rps=60.0),
        # gevent serves as much in about as much memory; gthread more in less.
        row("flask-gevent", 560, 81), row("flask-gthread", 600, 40),
    ]  # fmt: skip
    found = judged(rows)
    assert {k: v.outcome for k, v in found.items()} == {
        "flask-sync": "win", "flask-gevent": "tie", "flask-gthread": "loss",
    }  # fmt: skip
    sync = found["flask-sync"]
    fastapi = [590 / (80 / 1024), 600 / (82 / 1024)]
    flask = [57 / (176 / 1024), 59 / (180 / 1024)]
    assert sync.ratio == pytest.approx((sum(fastapi) / 2) / (sum(flask) / 2))
    assert sync.ratio_low == pytest.approx(min(fastapi) / max(flask))
    assert sync.ratio_high == pytest.approx(max(fastapi) / min(flask))
    assert (sync.challenger.rss_mib, sync.challenger.rss_mib_max) == (81, 86)
    text = memory.full_text(sync, MANIFEST)
    assert "fastapi-async 7,522 rps per GiB (7,493-7,552, CV 0.6%, 2 runs) vs" in text
    assert f"The claim holds here: per GiB, fastapi-async served {TIMES}22.55 what" in text
    assert "flask-sync held 178 MiB (peak 184) in gunicorn's arbiter and 3 workers" in text
    assert "fastapi-async held 81 MiB (peak 86) in one process for 595 rps" in text
    # The throughput ceilings bound no ratio per GiB: each side's share of its own is given.
    assert "Ceilings: 30 connections" not in text
    ceilings = "Ceilings: fastapi-async at 99% of its ceiling; flask-sync at 97% of its ceiling."
    assert ceilings in text
    assert "does not hold" in memory.full_text(found["flask-gevent"], MANIFEST)
    assert "reversed" in memory.full_text(found["flask-gthread"], MANIFEST)


def test_flagged_runs_leave_the_memory_figures_too() -> None:
    rows = [
        row("fastapi-async", 600, 80), row("flask-sync", 58, 176),
        row("fastapi-async", 100, 900, 2, flags=["errors"]),
    ]  # fmt: skip
    sync = judged(rows)["flask-sync"]
    assert sync.challenger.rss_mib == 80
    assert sync.challenger.rps_per_gib == Spread.of([600 / (80 / 1024)])
    assert "Flagged runs, left out: errors above 1% in 1 run" in sync.text()


def test_without_memory_there_is_no_memory_verdict_and_the_report_says_why(
    tmp_path: Path,
) -> None:
    rows = [row("fastapi-async", 600, None), row("flask-sync", 58, None)]
    assert judged(rows) == {}
    blocks, charts = memory.section([], cells(rows), {}, tmp_path)
    assert charts == []
    assert "no resident memory for these cells" in texts(blocks)
    # Nor a section for a set that ran none of the lesson's cells.
    assert memory.section([], cells(rows[:1]), {}, tmp_path) == ([], [])


def cell(rps: float, **figures: Any) -> Cell:
    """An /io/db cell of fastapi-async under a 600 rps ceiling."""
    base: dict[str, Any] = {"ceiling_rps": 600.0, "ceiling_note": "30 connections"}
    return Cell("io_db", "fastapi-async", 64, "locust", rps=Spread.of([rps]), p50_ms=None,
                p99_ms=None, **(base | figures))  # fmt: skip


@pytest.mark.parametrize(
    ("built", "reason"),
    [
        (cell(570), None),
        (cell(300, cpu_ms=1.0, service_cores=1, service_cpus_busy=0.97),
         "other work kept its CPUs 97% busy in all (its own share 30%): the machine was shared"),
        (cell(300, cpu_ms=1.0, service_cores=1, service_cpus_busy=0.4, infra_cpu=0.5),
         "it kept 30% of its cores busy and waited: for its own pools, for Postgres and the "
         "upstream (unpinned, 0.50 cores), or for the generator"),
        (cell(300), "its CPU was not measured, so these figures cannot tell what held it back"),
        (cell(590, judged=False, flags={"errors": 2}),
         "every run was flagged (errors above 1% in 2 runs)"),
        (cell(300, ceiling_rps=None, ceiling_note="none: Postgres round trips"),
         "it has no ceiling: Postgres round trips"),
    ],
)  # fmt: skip
def test_a_cell_below_90_percent_of_its_ceiling_says_why(built: Cell, reason: str | None) -> None:
    assert memory.below_ceiling(built) == reason
    text = memory.ceiling_text(built)
    if reason is None:
        assert text == "fastapi-async at 95% of its ceiling"
    elif built.judged and built.ceiling_rps:
        assert text == f"fastapi-async at 50% of its ceiling, below 90%: {reason}"
    else:
        assert text == f"fastapi-async: {reason}"


def test_a_memory_verdict_flags_a_side_below_its_ceiling() -> None:
    rows = [row("fastapi-async", 300, 80, service_cpu_ms_per_request=1.0, service_cores=1,
                service_cpus_busy=0.98), row("flask-sync", 58, 176, ceiling_rps=60.0)]  # fmt: skip
    text = memory.full_text(judged(rows)["flask-sync"], MANIFEST)
    assert ("Ceilings: fastapi-async at 50% of its ceiling, below 90%: other work kept its CPUs "
            "98% busy in all") in text  # fmt: skip
    assert "flask-sync at 97% of its ceiling." in text


def test_rps_per_core_and_per_gib_stand_side_by_side() -> None:
    rows = [row("fastapi-async", r, m, i, service_cpu_ms_per_request=0.5)
            for i, (r, m) in enumerate([(600, 80), (580, 82), (590, 81)])]  # fmt: skip
    [only] = cells(rows).values()
    assert only.rps_per_core == 2000
    per_gib = only.rps_per_gib
    assert per_gib is not None
    assert per_gib.n == 3
    assert per_gib.median == pytest.approx(590 / (81 / 1024))
    shown = table(memory.efficiency_table({("k",): only}, TITLES, {}))
    assert shown.rows == [["I/O wait", "fastapi-async", "64", "Locust", "590", "2,000",
                           "7,459 (7,243-7,680)", "81 MiB (peak 86)"]]  # fmt: skip


def test_a_tree_that_is_gone_has_no_memory() -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert tree_resident_bytes(gone.pid) is None
