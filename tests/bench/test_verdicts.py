"""Verdicts are computed from rows: crafted summaries for a tie, a win, a loss, flagged runs."""

from __future__ import annotations

from typing import Any

import pytest

from asynclab.bench.rows import flags, run_generator_ceiling
from asynclab.bench.verdicts import (
    ALL_LESSONS,
    SERVER_LESSONS,
    TIMES,
    Spread,
    cells,
    classify,
    verdicts,
)

TITLES = {"cpu_python": "CPU", "io_db": "I/O wait", "pitfall": "Blocking"}


def row(scenario: str, variant: str, users: int, rps: float, rep: int = 1,
        **extra: Any) -> dict[str, Any]:  # fmt: skip
    return {"scenario": scenario, "variant": variant, "users": users, "repetition": rep,
            "tool": "locust", "rps": rps, "p50_ms": 10.0, "p99_ms": 20.0, "flags": [],
            "ceiling_rps": None, "ceiling_note": None, **extra}  # fmt: skip


def lesson(key: str) -> Any:
    return next(x for x in ALL_LESSONS if x.key == key)


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


def test_flagged_runs_are_left_out_and_named() -> None:
    rows = [
        *(row("io_db", "flask-sync", 64, r, i) for i, r in enumerate([58, 57, 59])),
        row("io_db", "fastapi-async", 64, 300, 1),
        row("io_db", "fastapi-async", 64, 310, 2),
        # A run that answered errors fast: it must not pull the median.
        row("io_db", "fastapi-async", 64, 2000, 3, ok_rps=900, flags=["errors"]),
    ]
    [found] = verdicts(rows, TITLES, [lesson("io")])
    assert found.judged
    assert found.challenger.rps.n == 2
    assert found.challenger.rps.median == pytest.approx(305)
    assert found.challenger.runs == 3
    assert found.flags == {"errors": 1}
    assert "Flagged runs, left out: errors above 1% in 1 run" in found.text()
    assert found.to_json()["flags"] == {"errors": 1}


def test_every_run_flagged_is_not_judged() -> None:
    rows = [
        row("io_db", "flask-sync", 64, 50, flags=["errors"]),
        row("io_db", "flask-sync", 64, 52, 2, flags=["errors"]),
        row("io_db", "fastapi-async", 64, 300, flags=["generator_cpu", "errors"]),
    ]
    [found] = verdicts(rows, TITLES, [lesson("io")])
    assert not found.judged
    assert not found.as_expected
    text = found.text()
    assert text.startswith("I/O wait, 64 users: not judged: every run of fastapi-async")
    assert "flask-sync was flagged (errors above 1% in 2 runs)" in text
    assert "async wins" not in text
    data = found.to_json()
    assert (data["judged"], data["outcome"]) == (False, None)
    assert "every run of fastapi-async was flagged" in data["not_judged_reason"]


def test_nothing_succeeded_on_the_baseline_is_not_judged_without_a_ratio() -> None:
    rows = [
        row("io_db", "flask-sync", 64, 900, ok_rps=0.0, flags=["errors"]),
        row("io_db", "fastapi-async", 64, 300),
    ]
    [found] = verdicts(rows, TITLES, [lesson("io")])
    assert not found.judged
    assert found.to_json()["ratio"] is None
    assert TIMES not in found.text()


def test_a_flagged_level_is_skipped_for_the_highest_judged_one() -> None:
    rows = [
        row("io_db", "flask-sync", 8, 50),
        row("io_db", "fastapi-async", 8, 150),
        row("io_db", "flask-sync", 64, 50),
        row("io_db", "fastapi-async", 64, 300, flags=["generator_bound"]),
    ]
    [found] = verdicts(rows, TITLES, [lesson("io")])
    assert (found.users, found.judged, found.skipped_levels) == (8, True, (64,))
    assert "Not judged at 64 users" in found.text()


def test_throughput_counts_successes_only() -> None:
    rows = [
        row("pitfall", "flask-sync", 32, 57, ok_rps=57),
        # Half of these answers were errors: only the successes count.
        row("pitfall", "fastapi-async", 32, 40, ok_rps=20),
    ]
    [found] = verdicts(rows, TITLES, [lesson("pitfall")])
    assert found.challenger.rps.median == 20
    assert found.ratio == pytest.approx(20 / 57)


def test_ceiling_number_and_note_come_from_the_same_run() -> None:
    rows = [
        row("cpu_python", "flask-sync", 8, 100, i, ceiling_rps=c, ceiling_note=f"note {c}")
        for i, c in enumerate([140, 100, 120])
    ]
    [cell] = cells(rows).values()
    assert (cell.ceiling_rps, cell.ceiling_note) == (120, "note 120")


def test_server_lessons_compare_servers_and_frameworks_on_three_routes() -> None:
    """Same framework on two servers, and the same server with both frameworks."""
    pairs = {(x.challenger, x.baseline) for x in SERVER_LESSONS}
    assert pairs == {("flask-granian", "flask-gthread"), ("fastapi-granian", "fastapi-async"),
                     ("fastapi-granian", "flask-granian")}  # fmt: skip
    for pair in pairs:
        routes = {x.scenario for x in SERVER_LESSONS if (x.challenger, x.baseline) == pair}
        assert routes == {"json", "db", "io_db"}, pair
    assert len({x.key for x in ALL_LESSONS}) == len(ALL_LESSONS)


def test_a_server_lesson_is_judged_like_the_others_in_its_own_words() -> None:
    titles = {"json": "TechEmpower json", "io_db": "I/O wait"}
    rows = [
        *(row("json", "flask-gthread", 64, r, i) for i, r in enumerate([1000, 1100, 1050])),
        *(row("json", "flask-granian", 64, r, i) for i, r in enumerate([2000, 2200, 2100])),
        row("io_db", "flask-gthread", 64, 470, ceiling_rps=480, ceiling_note="3 workers x 8"),
        row("io_db", "flask-granian", 64, 300, ceiling_rps=480, ceiling_note="3 workers x 8"),
    ]
    found = {v.lesson.key: v for v in verdicts(rows, titles, ALL_LESSONS)}
    assert set(found) == {"flask-servers-json", "flask-servers-io_db"}
    json_ = found["flask-servers-json"]
    assert (json_.outcome, json_.as_expected) == ("win", True)
    assert json_.ratio == pytest.approx(2100 / 1050)
    assert json_.text().startswith(
        "TechEmpower json, 64 users: flask-granian 2,100 rps (2,000-2,200, CV 4.8%, 3 runs) vs "
        "flask-gthread 1,050 rps"
    )
    assert json_.text().endswith(": granian wins.")
    io = found["flask-servers-io_db"]
    # Same slots, same ceiling: a loss here is named as unexpected, with the ceilings beside.
    assert (io.outcome, io.as_expected, io.ceiling_ratio) == ("loss", False, 1.0)
    assert "granian loses (expected a tie). Ceilings: 3 workers x 8 vs 3 workers x 8" in io.text()
    assert "async" not in io.text()


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
        # A heavier route costs the generator more than the calibration's /plaintext: this
        # run's own ceiling (rps / generator CPU share) is the one that binds.
        ({"rps": 900, "requests": 500, "generator_cpu": 0.85, "error_rate": 0,
          "generator_ceiling_rps": 1059}, 10000, ["generator_bound"]),
        ({"rps": 100, "requests": 500, "generator_cpu": 0.1, "error_rate": 0, "exit_code": 1},
         None, ["locust_exit"]),
    ],
)  # fmt: skip
def test_flags(figures: dict[str, Any], ceiling: float | None, expected: list[str]) -> None:
    assert flags(figures, ceiling) == expected


def test_run_generator_ceiling_is_rps_over_cpu_share() -> None:
    assert run_generator_ceiling(3000, 0.5) == 6000
    assert run_generator_ceiling(3000, None) is None
    assert run_generator_ceiling(0, 0.5) is None
