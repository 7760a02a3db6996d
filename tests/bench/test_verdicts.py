"""Verdicts are computed from rows: crafted summaries for a tie, a win, a loss, flagged runs."""

from __future__ import annotations

from typing import Any

import pytest

from asynclab.bench.rows import flags
from asynclab.bench.verdicts import LESSONS, Spread, classify, verdicts

TITLES = {"cpu_python": "CPU", "io_db": "I/O wait", "pitfall": "Blocking"}


def row(scenario: str, variant: str, users: int, rps: float, rep: int = 1,
        **extra: Any) -> dict[str, Any]:  # fmt: skip
    return {"scenario": scenario, "variant": variant, "users": users, "repetition": rep,
            "tool": "locust", "rps": rps, "p50_ms": 10.0, "p99_ms": 20.0, "flags": [],
            "ceiling_rps": None, "ceiling_note": None, **extra}  # fmt: skip


def lesson(key: str) -> Any:
    return next(x for x in LESSONS if x.key == key)


def test_tie_win_and_loss() -> None:
    rows = [
        *(row("cpu_python", "flask-sync", 8, r, i) for i, r in enumerate([100, 102, 98])),
        *(row("cpu_python", "fastapi-async", 8, r, i) for i, r in enumerate([97, 99, 101])),
        row("io_db", "flask-sync", 64, 58, ceiling_rps=60, ceiling_note="3 workers"),
        row("io_db", "fastapi-async", 64, 300, ceiling_rps=320, ceiling_note="16 connections"),
        row("pitfall", "flask-sync", 32, 57),
        row("pitfall", "fastapi-async", 32, 19),
    ]
    found = {v.lesson.key: v for v in verdicts(rows, TITLES)}
    assert {k: v.outcome for k, v in found.items()} == {
        "cpu": "tie",
        "io": "win",
        "pitfall": "loss",
    }
    assert all(v.as_expected for v in found.values())
    assert found["io"].ratio == pytest.approx(300 / 58)
    assert found["io"].ceiling_ratio == pytest.approx(320 / 60)
    text = found["io"].text()
    assert "fastapi-async 300 rps (1 run) vs flask-sync 58 rps (1 run)" in text
    assert "Ceilings: 16 connections vs 3 workers" in text
    # The spread of the tie comes from its repetitions: medians 99 and 100, range 97/102..101/98
    cpu = found["cpu"]
    assert cpu.challenger.rps.n == 3
    assert (cpu.ratio_low, cpu.ratio_high) == (pytest.approx(97 / 102), pytest.approx(101 / 98))
    assert "(97-101, CV 2.0%, 3 runs)" in cpu.text()


def test_highest_common_concurrency_is_judged() -> None:
    rows = [row("io_db", "flask-sync", u, 50) for u in (8, 64)]
    rows += [row("io_db", "fastapi-async", 8, 100), row("io_db", "fastapi-async", 256, 300)]
    [found] = verdicts(rows, TITLES, [lesson("io")])
    assert found.users == 8


def test_unexpected_outcome_is_reported_not_hidden() -> None:
    rows = [row("pitfall", "flask-sync", 32, 20), row("pitfall", "fastapi-async", 32, 20)]
    [found] = verdicts(rows, TITLES, [lesson("pitfall")])
    assert found.outcome == "tie"
    assert not found.as_expected
    assert "expected async loses" in found.text()


def test_flagged_runs_are_named_in_the_verdict() -> None:
    rows = [
        row("io_db", "flask-sync", 64, 50, flags=["errors"]),
        row("io_db", "fastapi-async", 64, 300, flags=["generator_cpu", "errors"]),
    ]
    [found] = verdicts(rows, TITLES, [lesson("io")])
    assert found.flags == {"errors": 2, "generator_cpu": 1}
    assert "errors above 1% in 2 runs" in found.text()
    assert found.to_json()["flags"] == {"errors": 2, "generator_cpu": 1}


def test_missing_variant_gives_no_verdict() -> None:
    assert verdicts([row("io_db", "flask-sync", 64, 50)], TITLES) == []


@pytest.mark.parametrize(
    ("ratio", "outcome"), [(1.0, "tie"), (1.14, "tie"), (0.88, "tie"), (1.2, "win"),
                           (5.3, "win"), (0.8, "loss"), (0.33, "loss")]
)  # fmt: skip
def test_classify(ratio: float, outcome: str) -> None:
    assert classify(ratio) == outcome


def test_spread() -> None:
    one = Spread.of([59.0])
    assert (one.median, one.cv, one.text()) == (59.0, None, "59 rps (1 run)")
    many = Spread.of([100.0, 110.0, 90.0])
    assert (many.median, many.low, many.high, many.n) == (100.0, 90.0, 110.0, 3)
    assert many.cv == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("figures", "ceiling", "expected"),
    [
        ({"rps": 100, "requests": 500, "generator_cpu": 0.5, "error_rate": 0.0}, 1000, []),
        ({"rps": 100, "requests": 500, "generator_cpu": 0.95, "error_rate": 0}, 1000,
         ["generator_cpu"]),
        ({"rps": 100, "requests": 500, "generator_cpu": 0.1, "error_rate": 0.02}, None,
         ["errors"]),
        ({"rps": 900, "requests": 500, "generator_cpu": 0.5, "error_rate": 0}, 1000,
         ["generator_bound"]),
        ({"rps": 0, "requests": 0, "generator_cpu": 0.0, "error_rate": 1.0}, None,
         ["errors", "no_requests"]),
    ],
)  # fmt: skip
def test_flags(figures: dict[str, Any], ceiling: float | None, expected: list[str]) -> None:
    assert flags(figures, ceiling) == expected
