"""The open-loop runs: their plan (targets from the ceilings, the closed loop's users, the
window), the generator's schedule, the figures and flags of a row, and a real short run of each
loop against the session's lab."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path
from typing import Any

import pytest

from asynclab.bench.open_gen import Plan, schedule, segment
from asynclab.bench.open_loop import (
    OpenSpec,
    build_row,
    closed_users,
    figures,
    flags,
    measure,
    nearest_rank,
    plan_for,
    target_rps,
    window_s,
)
from asynclab.bench.profiles import OPEN_LOADS, OPEN_VARIANTS, Run, customise, get_profile
from asynclab.bench.sampler import infra_pids
from asynclab.lab import Lab
from asynclab.settings import LabSettings


@pytest.mark.parametrize(
    ("variant", "ceiling", "targets", "users"),
    [
        # 3 workers x 1 connection ÷ 0.05 s = 60 rps.
        ("flask-sync", 60.0, (30.0, 48.0, 57.0), (2, 3, 4)),
        # 30 connections ÷ 0.05 s = 600 rps (the def pool has 40 threads: the pool binds).
        ("fastapi-async", 600.0, (300.0, 480.0, 570.0), (19, 30, 36)),
        ("fastapi-def", 600.0, (300.0, 480.0, 570.0), (19, 30, 36)),
        ("flask-gevent", 600.0, (300.0, 480.0, 570.0), (19, 30, 36)),
        ("flask-gthread", 480.0, (240.0, 384.0, 456.0), (15, 24, 29)),
    ],
)
def test_targets_are_shares_of_the_littles_law_ceiling(
    variant: str, ceiling: float, targets: tuple[float, ...], users: tuple[int, ...]
) -> None:
    settings = LabSettings()
    plans = [plan_for(Run(variant, "io_db", load, 1, "open"), settings, 10) for load in OPEN_LOADS]
    assert [p.ceiling_rps for p in plans] == [ceiling] * 3
    assert tuple(p.target_rps for p in plans) == pytest.approx(targets)
    # The closed loop runs at least as fast as the target when a request holds its slot
    # 62.5 ms, up to its ceiling.
    assert tuple(p.users for p in plans) == users
    assert all(min(p.users / 0.0625, ceiling) >= p.target_rps for p in plans)
    assert target_rps(600, 95) == 570
    assert closed_users(570, 0.05) == 36


def test_windows_stretch_to_enough_requests_for_a_p999() -> None:
    assert window_s(570, 15) == 15  # 8,550 requests already
    assert window_s(30, 15) == 100  # 3,000 requests
    assert window_s(1, 15) == 120  # at most two minutes
    assert window_s(30, 2, requests=0) == 2


def test_nearest_rank() -> None:
    assert nearest_rank([10, 20, 30, 40], 0.5) == 20
    assert nearest_rank([10, 20, 30, 40], 0.99) == 40
    values = list(range(1, 1001))
    assert nearest_rank(values, 0.999) == 999  # one request beyond it
    assert nearest_rank(values, 0.99) == 990
    assert nearest_rank([], 0.5) is None


@pytest.mark.parametrize("arrivals", ["poisson", "uniform"])
def test_the_schedule_offers_exactly_the_rate_in_the_window(arrivals: Any) -> None:
    plan = Plan("http://x", warmup_s=2, duration_s=7, rate=57.0, arrivals=arrivals, timeout_s=3)
    starts = list(schedule(plan, 100.0))
    times = [at for at, _ in starts]
    assert times == sorted(times)
    measured = [at for at, m in starts if m]
    assert len(measured) == 399  # 57 x 7: no ±√n noise in the offered rate
    assert min(measured) >= 102
    assert max(measured) < 109
    assert all(at < 102 for at, m in starts if not m and at < 109)  # the warm-up before it
    assert max(times) < 109 + 4  # the tail lasts the timeout and a second, no longer
    # Poisson: the same seed, the same schedule; gaps vary (evenly spaced ones do not).
    assert starts == list(schedule(plan, 100.0))
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(measured)}
    assert (len(gaps) > 100) == (arrivals == "poisson")
    assert len(segment(0, 0.5, 30, arrivals, random.Random(1))) == 15


def raw(latencies: list[float], ok: list[bool], lags: list[float] | None = None,
        window: float = 10.0, **counts: Any) -> dict[str, Any]:  # fmt: skip
    return {"window": [100.0, 100.0 + window], "arrivals": "poisson", "seed": 1,
            "measured": {"latency_ms": latencies, "ok": [int(x) for x in ok],
                         "lag_ms": lags or [0.1] * len(latencies),
                         "intended_s": [i / 100 for i in range(len(latencies))]},
            "sent_in_window": counts.get("sent", len(latencies)),
            "done_in_window": counts.get("done", len(latencies)),
            "ok_in_window": counts.get("ok_done", sum(ok)), "capped": counts.get("capped", 0),
            "most_in_flight": 20, "errors": counts.get("errors", {})}  # fmt: skip


def test_figures_count_every_request_of_the_window_errors_included() -> None:
    # 1,000 requests: 990 at 50 ms, 9 at 400 ms, one timeout at 10 s.
    latencies = [50.0] * 990 + [400.0] * 9 + [10_000.0]
    ok = [True] * 999 + [False]
    found = figures(raw(latencies, ok, window=10, sent=1000, done=1000, ok_done=999))
    assert (found["requests"], found["failures"], found["error_rate"]) == (1000, 1, 0.001)
    assert (found["ok_rps"], found["sent_rps"]) == (99.9, 100.0)
    assert (found["p50_ms"], found["p99_ms"], found["p999_ms"]) == (50, 50, 400)
    assert found["max_ms"] == 10_000
    # Below 1,000 requests there is no p99.9: it would be the maximum or next to it.
    assert figures(raw(latencies[:999], ok[:999]))["p999_ms"] is None


def row(tool: str = "open", **extra: Any) -> dict[str, Any]:
    base = {"tool": tool, "target_rps": 300.0, "ok_rps": 299.0, "requests": 3000,
            "error_rate": 0.0, "generator_cpu": 0.2, "p99_ms": 80.0, "lag_p99_ms": 2.0,
            "capped": 0}  # fmt: skip
    return {**base, **extra}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, []),
        ({"ok_rps": 294.1}, []),  # 1.97% short: held
        ({"ok_rps": 293.9}, ["short_of_target"]),  # 2.03% short: flagged, not judged
        ({"lag_p99_ms": 8.1}, ["generator_late"]),  # above 10% of the p99
        ({"capped": 3}, ["generator_cap"]),
        ({"generator_cpu": 0.95}, ["generator_cpu"]),
        ({"error_rate": 0.02}, ["errors"]),
    ],
)
def test_an_open_run_is_flagged_when_it_did_not_hold_its_load(
    extra: dict[str, Any], expected: list[str]
) -> None:
    assert flags(row(**extra)) == expected


def test_a_closed_run_slower_than_the_target_is_not_at_a_comparable_rate() -> None:
    assert flags(row("closed", ok_rps=320.0)) == []
    assert flags(row("closed", ok_rps=290.0)) == ["slower_than_target"]
    # Its generator's lag is zero by construction, and it has no target of its own to hold.
    assert flags(row("closed", lag_p99_ms=50.0)) == []


def test_the_full_profile_has_the_lesson_and_quick_keeps_its_three() -> None:
    full = get_profile("full")
    runs = [r for r in full.runs() if r.tool in ("open", "closed")]
    assert {(r.variant, r.users, r.tool) for r in runs} == {
        (v, load, tool) for v in OPEN_VARIANTS for load in OPEN_LOADS
        for tool in ("open", "closed")
    }  # fmt: skip
    assert len(runs) == len(OPEN_VARIANTS) * 3 * 2 * full.repetitions
    assert Run("flask-sync", "io_db", 95, 2, "open").key == "io_db__flask-sync__load95__r2__open"
    assert not any(r.tool == "wrk" and r.users in OPEN_LOADS for r in full.runs())
    quick = get_profile("quick")
    assert {c.scenario for c in quick.cells} == {"cpu_python", "io_db", "pitfall"}
    assert not any(c.open_loop for c in quick.cells)
    # --users changes closed-loop levels only; --scenarios io_db keeps both io_db cells.
    custom = customise(full, scenarios=["io_db"], users=[8])
    assert [(c.users, c.open_loop) for c in custom.cells] == [((8,), False), (OPEN_LOADS, True)]
    # Where its generator cannot run (compose), the lesson goes, never to Locust.
    bare = full.without_tool("open").without_tool("closed")
    assert not any(c.open_loop for c in bare.cells)


def spec(lab: Lab, tool: str, load: int, out: Path) -> tuple[OpenSpec, Any, Run]:
    manifest = lab.manifest()
    assert manifest is not None
    run = Run("fastapi-async", "io_db", load, 1, tool)  # type: ignore[arg-type]
    plan = plan_for(run, lab.settings, 2, requests=0)
    url = manifest["urls"]["fastapi"] + "/io/db?ms=50"
    pid = manifest["processes"]["fastapi"]["pid"]
    return OpenSpec(url, {"ms": 50}, tool, plan, 1, out, service_pid=pid,
                    infra_pids=infra_pids(manifest)), plan, run  # fmt: skip


@pytest.mark.slow
def test_a_real_short_run_of_each_loop(lab: Lab, tmp_path: Path) -> None:
    """Two seconds of each loop against the session's lab, at 50% of fastapi-async's ceiling
    (300 rps, 19 closed users): what the row says must agree with what the generator saw."""
    for tool in ("open", "closed"):
        found, plan, run = spec(lab, tool, 50, tmp_path / tool)
        result = measure(found)
        row = build_row(run, result, plan, lab.settings, f"runs/{run.key}")
        written = json.loads((tmp_path / tool / "open_gen.json").read_text())
        assert written["mode"] == tool
        assert row["tool"] == tool
        assert row["users"] == 50
        assert row["target_rps"] == 300
        assert row["requests"] == len(written["measured"]["latency_ms"]) > 0
        assert row["error_rate"] == 0, written["errors"]
        assert 50 <= row["p50_ms"] <= row["p99_ms"] <= row["max_ms"]  # pg_sleep(0.05) each
        assert row["p999_ms"] is None  # fewer than 1,000 requests
        assert 0 < row["ok_rps"] <= row["rps"]
        assert row["generator_cpu"] is not None
        assert row["generator_cpu"] > 0
        if tool == "open":
            # The schedule's own count: 300 rps x 2 s, whatever the service did.
            assert row["requests"] == 600
            assert row["closed_users"] is None
            assert row["ceiling_rps"] == 600
        else:
            assert row["closed_users"] == plan.users == 19
            assert row["ceiling_rps"] == 380  # 19 users ÷ 0.05 s
            assert row["lag_p99_ms"] == 0  # a closed loop sends when it means to
        assert set(row["flags"]) <= {"short_of_target", "generator_late", "slower_than_target"}
