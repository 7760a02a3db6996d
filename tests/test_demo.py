"""``asynclab demo --short``: a real, short run of the three acts (and, on its own, of the
optional fourth) against a lab of its own.

Whether each lesson shows (a tie, a win, a loss) is a measurement: on a busy machine a short
run may say otherwise, and the demo then says so itself (``expected ..., measured ...``). The
verdicts are tested on crafted rows in tests/bench/test_verdicts.py. Here the demo must run
every act, report what it measured consistently, and never exceed a Little's-law ceiling, which
no machine, busy or idle, can do.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import PORT_FIELDS
from helpers import free_ports, processes_mentioning

from asynclab.bench.verdicts import LESSONS, PARITY_REFERENCES, TIMES, WORDS, classify
from asynclab.demo import chosen_acts
from asynclab.demo_parity import PARITY_ACT
from asynclab.demo_stage import SHORT, STAGE

pytestmark = pytest.mark.slow

# Acts where every successful request holds a slot (a pooled connection, a worker, the event
# loop) for a 50 ms wait: in a window of W s a slot completes at most W / 0.05 + 1 of them.
SLOT_CEILING_ACTS = {"io", "pitfall"}
HOLD_S = 0.05


def within_slot_ceiling(row: dict[str, Any]) -> bool:
    """Little's law as an upper bound, which a busy machine can only make less reached."""
    bound = row["slot_ceiling_rps"] * (1 + HOLD_S / row["window_s"])
    return bool(row["ok_rps"] <= 1.01 * bound)  # 1%: the row's figures are rounded


def run_demo(out: Path, state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``asynclab demo --short ARGS`` against a lab of its own (free ports, its state dir)."""
    ports = free_ports(len(PORT_FIELDS))
    env = {
        **os.environ,
        **{
            f"ASYNCLAB_{name.upper()}": str(port)
            for name, port in zip(PORT_FIELDS, ports, strict=True)
        },
        "ASYNCLAB_STATE_DIR": str(state),
    }
    asynclab = Path(sys.executable).with_name("asynclab")
    done = subprocess.run(
        [str(asynclab), "demo", "--short", "--out", str(out), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not processes_mentioning(str(state)), "the demo left processes of its lab running"
    return done


def test_demo_short_runs_the_three_acts_and_reports_what_it_measured(
    tmp_path: Path, new_state_dir: Callable[[], Path]
) -> None:
    out = tmp_path / "out"
    done = run_demo(out, new_state_dir())

    acts = json.loads((out / "demo.json").read_text())["acts"]
    assert [a["lesson"] for a in acts] == ["cpu", "io", "pitfall"]
    for act, lesson in zip(acts, LESSONS, strict=True):
        assert act["expected"] == lesson.expect
        figures = act["variants"]
        assert set(figures) == {lesson.challenger, lesson.baseline}
        assert all(f["runs"] == 1 and f["rps"] > 0 for f in figures.values()), act
        measured = figures[lesson.challenger]["rps"] / figures[lesson.baseline]["rps"]
        assert act["ratio"] == pytest.approx(measured, abs=1e-3), act
        # The verdict follows from the figures, whichever way they fell on this machine.
        assert act["outcome"] == (classify(measured) if act["judged"] else None), act
        said = f"{lesson.challenger} is {TIMES}{measured:.2f} {lesson.baseline}"
        assert said in done.stdout, done.stdout[-3000:]
        if act["judged"] and act["outcome"] != lesson.expect:
            assert f"expected {WORDS[lesson.expect]}" in done.stdout
        if act["lesson"] in SLOT_CEILING_ACTS:
            rows = json.loads((Path(act["result_set"]) / "summary.json").read_text())["rows"]
            assert rows, act
            for row in rows:
                assert within_slot_ceiling(row), row
        assert f"Act {act['act']}." in done.stdout
        for chart in act["charts"]:
            assert Path(chart).stat().st_size > 10_000, chart
    if shutil.which("prometheus"):
        # Whether a scrape fell inside a run of a few seconds is up to the machine: the demo
        # must say, for every act, which it was (test_live checks the annotations' queries).
        said = done.stdout.count("marked on the Grafana dashboards")
        said += done.stdout.count("not seen by Prometheus (no annotation)")
        assert said == 3, done.stdout[-3000:]


def test_the_parity_act_is_off_by_default_and_fits_its_budget() -> None:
    assert chosen_acts(parity=False, only=()) == (1, 2, 3)
    assert chosen_acts(parity=True, only=()) == (1, 2, 3, 4)
    assert chosen_acts(parity=False, only=(4, 4)) == (4,)
    for timing in (SHORT, STAGE):
        repetitions = PARITY_ACT.repetitions(timing)
        planned = len(PARITY_ACT.profile(timing, repetitions).runs()) * timing.run_s()
        assert repetitions >= 1
        assert planned <= PARITY_ACT.budget_s, timing


def test_demo_parity_act_measures_fastapi_against_node_and_go(
    tmp_path: Path, new_state_dir: Callable[[], Path]
) -> None:
    out = tmp_path / "out"
    done = run_demo(out, new_state_dir(), "--act", "4")
    [act] = json.loads((out / "demo.json").read_text())["acts"]
    assert (act["act"], act["lesson"], act["repetitions"]) == (4, "parity", 1)
    assert act["planned_s"] <= PARITY_ACT.budget_s
    assert "Act 4." in done.stdout
    assert "Act 1." not in done.stdout
    pairs = {(v["scenario"], v["reference"]) for v in act["verdicts"]}
    assert pairs == {(s, r) for s, _ in PARITY_ACT.scenarios for r in PARITY_REFERENCES}
    for v in act["verdicts"]:
        figures = v["variants"]
        assert set(figures) == {"fastapi-async", v["reference"]}
        assert all(f["runs"] == 1 and f["rps"] > 0 for f in figures.values()), v
        measured = figures["fastapi-async"]["rps"] / figures[v["reference"]]["rps"]
        assert v["ratio"] == pytest.approx(measured, abs=1e-3), v
        # The verdict follows from the figures, whichever way they fell on this machine.
        assert v["outcome"] == (classify(measured) if v["judged"] else None), v
        said = f"fastapi-async is {TIMES}{measured:.2f} {v['reference']}"
        assert said in done.stdout, done.stdout[-3000:]
        # Which generator measured it, and why when it is not Locust.
        assert v["generator"] in ("locust", "wrk"), v
        if v["generator"] == "wrk":
            assert "(wrk: Locust was outrun)" in done.stdout
            assert v["scenario"] == "json", v  # /io/db is measured with Locust alone
    rows = json.loads((Path(act["result_set"]) / "summary.json").read_text())["rows"]
    io = [r for r in rows if r["scenario"] == "io_db"]
    assert {r["variant"] for r in io} == {"fastapi-async", *PARITY_REFERENCES}
    for row in io:
        assert within_slot_ceiling(row), row
    assert {r["tool"] for r in rows if r["scenario"] == "json"} == {"locust", "wrk"}
    for chart in act["charts"]:
        assert Path(chart).stat().st_size > 10_000, chart
