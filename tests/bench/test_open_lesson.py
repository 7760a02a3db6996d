"""The open-loop lesson on crafted rows: the hidden tail (open p99 ÷ closed p99) and its growth
with the load, their spread over repetitions, what a flag leaves unjudged, why a run fell short
of its target (the variant's ceiling or the machine), and the report's section."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from asynclab.bench.open_lesson import open_verdicts, table
from asynclab.bench.report import build_report
from asynclab.bench.verdicts import TIMES

DATA = Path(__file__).parent / "data"
# (ceiling, closed users) of fastapi-async at 50%, 80% and 95% of its 600 rps.
LEVELS = {50: (300.0, 19), 80: (480.0, 30), 95: (570.0, 36)}


def row(tool: str, load: int, p99: float, rep: int = 1, variant: str = "fastapi-async",
        **extra: Any) -> dict[str, Any]:  # fmt: skip
    target, users = LEVELS[load]
    return {"scenario": "io_db", "variant": variant, "users": load, "repetition": rep,
            "tool": tool, "target_rps": target, "ok_rps": target, "rps": target,
            "sent_rps": target if tool == "open" else None, "p50_ms": 55.0, "p99_ms": p99,
            "p999_ms": p99 * 2, "requests": 3000, "error_rate": 0.0, "lag_p99_ms": 1.0,
            "closed_users": users if tool == "closed" else None,
            "ceiling_rps": 600.0 if tool == "open" else users / 0.05,
            "ceiling_note": "30 connections ÷ 0.05 s = 600 rps" if tool == "open"
            else f"{users} users (of 30 slots) ÷ 0.05 s = {users * 20} rps", "flags": [],
            **extra}  # fmt: skip


def reps(tool: str, load: int, p99s: list[float], **extra: Any) -> list[dict[str, Any]]:
    return [row(tool, load, p, i, **extra) for i, p in enumerate(p99s, 1)]


@pytest.mark.parametrize(
    ("open_p99", "closed_p99", "outcome", "words"),
    [
        ([120, 130, 140], [55, 60, 58], "win", "the closed loop hid the tail"),
        ([60, 62, 61], [58, 60, 59], "tie", "no tail hidden (a tie)"),
        ([50, 52, 51], [80, 85, 90], "loss", "the closed loop's tail was the longer"),
    ],
)
def test_hidden_tail_with_its_spread(
    open_p99: list[float], closed_p99: list[float], outcome: str, words: str
) -> None:
    rows = reps("open", 95, open_p99) + reps("closed", 95, closed_p99)
    [v] = open_verdicts(rows)
    [level] = v.levels
    assert level.judged
    hidden = level.hidden
    assert hidden is not None
    assert hidden.value == pytest.approx(sorted(open_p99)[1] / sorted(closed_p99)[1])
    # The range: the lowest open run ÷ the highest closed run, and the other way round.
    assert hidden.low == pytest.approx(min(open_p99) / max(closed_p99))
    assert hidden.high == pytest.approx(max(open_p99) / min(closed_p99))
    assert hidden.outcome == outcome
    low, high = f"{TIMES}{hidden.low:.2f}", f"{TIMES}{hidden.high:.2f}"
    spread = f"{TIMES}{hidden.value:.2f} (range {low} to {high})"
    assert f"{spread}: {words}" in v.text()
    assert v.to_json()["levels"][0]["outcome"] == outcome


def test_the_tail_grows_from_the_lowest_to_the_highest_judged_load() -> None:
    rows = [
        *reps("open", 50, [60, 62, 61]), *reps("closed", 50, [57, 58, 59]),
        *reps("open", 80, [90, 95, 100]), *reps("closed", 80, [60, 61, 62]),
        *reps("open", 95, [600, 700, 650]), *reps("closed", 95, [70, 75, 80]),
    ]  # fmt: skip
    [v] = open_verdicts(rows)
    assert v.growth is not None
    low, high, ratio = v.growth
    assert (low, high) == (50, 95)
    assert ratio.value == pytest.approx(650 / 61)
    assert (ratio.low, ratio.high) == (pytest.approx(600 / 62), pytest.approx(700 / 60))
    assert ratio.outcome == "win"
    assert f"From 50% to 95% of the ceiling the open loop's p99 changes {TIMES}10.66" in v.text()
    assert "the tail grows" in v.text()
    # One run a cell: no range to claim.
    single = [row("open", 50, 60), row("closed", 50, 57), row("open", 95, 600),
              row("closed", 95, 70)]  # fmt: skip
    [one] = open_verdicts(single)
    assert one.growth is not None
    assert one.growth[2].text() == f"{TIMES}10.00 (1 run each)"


def test_a_run_short_of_its_target_is_flagged_not_judged_and_left_out() -> None:
    short = {"ok_rps": 540.0, "flags": ["short_of_target"]}
    rows = [
        *reps("open", 50, [60, 62, 61]), *reps("closed", 50, [57, 58, 59]),
        # 95%: one run fell short: the other two make the cell.
        row("open", 95, 5000, 1, **short), *[row("open", 95, p, i) for i, p in ((2, 600),
                                                                                 (3, 700))],
        *reps("closed", 95, [70, 75, 80]),
    ]  # fmt: skip
    [v] = open_verdicts(rows)
    top = v.levels[-1]
    assert top.judged
    assert top.open is not None
    assert top.open.p99_ms is not None
    assert top.open.p99_ms.median == 650  # the flagged run's 5 s is left out
    assert top.open.flags == {"short_of_target": 1}

    # Every run short: not judged, its figures shown with the flag and the reason.
    rows = [r for r in rows if r["users"] == 50] + [
        *reps("open", 95, [5000, 4000, 6000], **short),
        *reps("closed", 95, [70, 75, 80]),
    ]
    [v] = open_verdicts(rows)
    top = v.levels[-1]
    assert not top.judged
    assert v.growth is None  # one load judged: no growth claimed
    text = v.text()
    assert "at 95%: not judged: every open-loop run flagged (achieved more than 2% below the " \
           "target arrival rate in 3 runs)" in text  # fmt: skip
    assert "Measured anyway: open loop 540.0 of 570.0 rps, p99 5,000 ms" in text
    assert "Growth of the tail not judged" in text


@pytest.mark.parametrize(
    ("closed_rps", "sent", "whose"),
    [
        # 30 slots ÷ 541.9 rps = 55.4 ms a request: 30 slots serve 542 rps < 570.
        (541.9, 570.0, "the variant's"),
        # 30 slots ÷ 380 rps = 79 ms a request: 58% beyond the wait, more than the service's
        # own time: something else slowed it.
        (380.0, 570.0, "the machine's: the closed loop measured 78.9 ms"),
        # The closed loop held 36 users at 580 rps: the slots serve 580 > 570, yet the open
        # loop fell short: something else took the machine.
        (580.0, 570.0, "the machine's"),
        # The generator itself sent short of the schedule.
        (580.0, 500.0, "the generator itself sent only 500.0"),
    ],
)
def test_a_shortfall_says_whether_the_variant_or_the_machine_fell_short(
    closed_rps: float, sent: float, whose: str
) -> None:
    rows = [row("open", 95, 900, ok_rps=520.0, sent_rps=sent, flags=["short_of_target"]),
            row("closed", 95, 80, ok_rps=closed_rps)]  # fmt: skip
    [v] = open_verdicts(rows)
    note = v.notes[95]
    assert note.startswith("served 520.0 of 570.0 rps: ")
    assert whose in note
    if sent == 570:
        slots = f"{min(36, 30) / closed_rps * 1000:.1f} ms a request per slot"
        assert slots in note
    assert v.to_json()["levels"][0]["reason"] == note


def test_every_cell_is_judged_or_has_a_flag_and_a_stated_reason() -> None:
    rows = [
        *reps("open", 50, [60, 62]), *reps("closed", 50, [57, 58]),
        *reps("open", 95, [900, 950], ok_rps=520.0, flags=["short_of_target"]),
        *reps("closed", 95, [80, 82], ok_rps=541.9, flags=["slower_than_target"]),
    ]  # fmt: skip
    [v] = open_verdicts(rows)
    t = table([v])
    why = {r[1]: (r[-2], r[-1]) for r in t.rows}
    # Half the ceiling by design: judged, and the table says why each loop is below 90% of
    # its ceiling (the closed loop's: 300 of 19 users ÷ 0.05 s = 380 rps, 79%).
    assert why["50%"] == ("yes", "offered at 50% of the ceiling by design; closed loop at 79% of "
                          "its ceiling (19 users (of 30 slots) ÷ 0.05 s = 380 rps): its users "
                          "are sized to the target, which it held")  # fmt: skip
    judged, reason = why["95%"]
    assert judged == "no"
    assert "open loop: achieved more than 2% below the target arrival rate in 2 runs" in reason
    assert "closed loop: below the open loop's target rate by more than 2%" in reason
    assert "the variant's" in reason


def test_the_report_has_the_lesson_and_its_slide(tmp_path: Path) -> None:
    set_dir = tmp_path / "set"
    set_dir.mkdir()
    shutil.copy(DATA / "manifest.json", set_dir / "manifest.json")
    rows = [*reps("open", 50, [60, 62]), *reps("closed", 50, [57, 58]),
            *reps("open", 95, [130, 140]), *reps("closed", 95, [60, 62])]  # fmt: skip
    summary = {"profile": "full", "status": "complete", "rows": rows, "errors": []}
    (set_dir / "summary.json").write_text(json.dumps(summary))

    out = build_report(set_dir)
    page = out.html.read_text()
    assert "Open loop: the tail a closed loop hides" in page
    # Its cells are keyed by load: the closed-loop ceiling table has none of them.
    assert "fastapi-async</td><td>50</td>" not in page
    assert {p.name for p in out.charts} == {"open_loop.png", "open_loop.svg"}
    assert "- fastapi-async: at 50%" in out.markdown.read_text()
    [lesson] = json.loads((set_dir / "verdicts.json").read_text())
    assert lesson["lesson"] == "open-loop-fastapi-async"
    assert [lv["outcome"] for lv in lesson["levels"]] == ["tie", "win"]
    assert lesson["growth"]["outcome"] == "win"
    assert out.verdicts == [lesson["text"]]


def test_a_closed_loop_with_fewer_users_than_slots_tells_no_ceiling() -> None:
    """Its slots idle while each user turns round: its throughput says nothing of the ceiling."""
    rows = [row("open", 50, 900, ok_rps=250.0, flags=["short_of_target"]),
            row("closed", 50, 80, ok_rps=290.0)]  # fmt: skip
    [v] = open_verdicts(rows)
    assert v.notes[50] == "served 250.0 of 300.0 rps"
