"""The lessons, and verdicts computed from the rows: never written by hand.

A verdict compares a challenger with a baseline on one scenario at the highest concurrency
both were measured at: the ratio of their median throughputs, its spread over repetitions,
and the ratio of their ceilings, which is what explains it.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from asynclab.bench.rows import FLAG_TEXT

Outcome = Literal["tie", "win", "loss"]
TIMES = "\u00d7"

# Within ±15 % of each other two variants tie: closer than that, the run-to-run noise of a
# shared two-core machine can flip the order.
TIE_TOLERANCE = 0.15


@dataclass(frozen=True)
class Lesson:
    key: str
    title: str
    scenario: str
    challenger: str
    baseline: str
    expect: Outcome


LESSONS: tuple[Lesson, ...] = (
    Lesson("cpu", "CPU-bound pure Python", "cpu_python",
           "fastapi-async", "flask-sync", "tie"),
    Lesson("io", "Waiting on the database", "io_db",
           "fastapi-async", "flask-sync", "win"),
    Lesson("pitfall", "Blocking call inside async def", "pitfall",
           "fastapi-async", "flask-sync", "loss"),
)  # fmt: skip


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float
    n: int
    cv: float | None  # coefficient of variation (stdev / mean); None for a single run

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        data = sorted(values)
        if not data:
            raise ValueError("no values")
        mean = statistics.fmean(data)
        cv = statistics.stdev(data) / mean if len(data) > 1 and mean else None
        return cls(statistics.median(data), data[0], data[-1], len(data), cv)

    def text(self, unit: str = "rps") -> str:
        """``"1,850 rps (1,800-1,900, CV 2.1%, 3 runs)"`` or ``"59 rps (1 run)"``."""
        if self.n == 1:
            return f"{self.median:,.0f} {unit} (1 run)"
        cv = f", CV {self.cv:.1%}" if self.cv is not None else ""
        return f"{self.median:,.0f} {unit} ({self.low:,.0f}-{self.high:,.0f}{cv}, {self.n} runs)"


@dataclass(frozen=True)
class Cell:
    """The repetitions of one (scenario, variant, users, tool)."""

    scenario: str
    variant: str
    users: int
    tool: str
    rps: Spread
    p50_ms: float | None
    p99_ms: float | None
    ceiling_rps: float | None
    ceiling_note: str | None
    flags: dict[str, int] = field(default_factory=dict)  # flag -> runs that raised it

    @property
    def ceiling_share(self) -> float | None:
        return self.rps.median / self.ceiling_rps if self.ceiling_rps else None


def _median(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def cells(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, str, int, str], Cell]:
    groups: dict[tuple[str, str, int, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row.get("rps") is not None:
            key = (row["scenario"], row["variant"], int(row["users"]), row.get("tool", "locust"))
            groups[key].append(row)
    out = {}
    for key, group in groups.items():
        flags: dict[str, int] = defaultdict(int)
        for row in group:
            for flag in row.get("flags", []):
                flags[flag] += 1
        ceilings = [r for r in group if r.get("ceiling_rps") is not None]
        ceiling_row = min(ceilings, key=lambda r: r["ceiling_rps"]) if ceilings else None
        out[key] = Cell(
            *key,
            rps=Spread.of(r["rps"] for r in group),
            p50_ms=_median(r.get("p50_ms") for r in group),
            p99_ms=_median(r.get("p99_ms") for r in group),
            ceiling_rps=_median(r.get("ceiling_rps") for r in group),
            ceiling_note=ceiling_row["ceiling_note"] if ceiling_row else None,
            flags=dict(flags),
        )
    return out


def classify(ratio: float, tolerance: float = TIE_TOLERANCE) -> Outcome:
    """``classify(1.05) == "tie"``, ``classify(5.2) == "win"``, ``classify(0.3) == "loss"``."""
    if ratio >= 1 + tolerance:
        return "win"
    if ratio <= 1 / (1 + tolerance):
        return "loss"
    return "tie"


WORDS: dict[Outcome, str] = {"tie": "a tie", "win": "async wins", "loss": "async loses"}


@dataclass(frozen=True)
class Verdict:
    lesson: Lesson
    users: int
    challenger: Cell
    baseline: Cell
    ratio: float
    ratio_low: float
    ratio_high: float
    outcome: Outcome
    ceiling_ratio: float | None
    flags: dict[str, int]
    scenario_title: str

    @property
    def as_expected(self) -> bool:
        return self.outcome == self.lesson.expect

    def text(self) -> str:
        c, b = self.challenger, self.baseline
        spread = (
            f" (range {TIMES}{self.ratio_low:.2f} to {TIMES}{self.ratio_high:.2f})"
            if c.rps.n > 1 or b.rps.n > 1
            else ""
        )
        line = (
            f"{self.scenario_title}, {self.users} users: {c.variant} {c.rps.text()} vs "
            f"{b.variant} {b.rps.text()}, {TIMES}{self.ratio:.2f}{spread}: {WORDS[self.outcome]}"
            + ("" if self.as_expected else f" (expected {WORDS[self.lesson.expect]})")
        )
        if c.ceiling_note and b.ceiling_note:
            line += f". Ceilings: {c.ceiling_note} vs {b.ceiling_note}"
            if self.ceiling_ratio:
                line += f" ({TIMES}{self.ceiling_ratio:.2f})"
        if self.flags:
            what = ", ".join(f"{FLAG_TEXT.get(f, f)} in {n} runs" for f, n in self.flags.items())
            line += f". Flagged: {what}"
        return line + "."

    def to_json(self) -> dict[str, Any]:
        return {
            "lesson": self.lesson.key,
            "title": self.lesson.title,
            "scenario": self.lesson.scenario,
            "users": self.users,
            "challenger": self.challenger.variant,
            "baseline": self.baseline.variant,
            "challenger_rps": self.challenger.rps.median,
            "baseline_rps": self.baseline.rps.median,
            "ratio": round(self.ratio, 3),
            "ratio_range": [round(self.ratio_low, 3), round(self.ratio_high, 3)],
            "outcome": self.outcome,
            "expected": self.lesson.expect,
            "as_expected": self.as_expected,
            "ceiling_ratio": round(self.ceiling_ratio, 3) if self.ceiling_ratio else None,
            "flags": self.flags,
            "text": self.text(),
        }


def verdict(
    lesson: Lesson, all_cells: dict[tuple[str, str, int, str], Cell], scenario_title: str
) -> Verdict | None:
    """The lesson's verdict at the highest users level measured for both variants, or None."""
    levels = sorted(
        u
        for (s, v, u, t) in all_cells
        if s == lesson.scenario and v == lesson.challenger and t == "locust"
        and (s, lesson.baseline, u, t) in all_cells
    )  # fmt: skip
    if not levels:
        return None
    users = levels[-1]
    c = all_cells[(lesson.scenario, lesson.challenger, users, "locust")]
    b = all_cells[(lesson.scenario, lesson.baseline, users, "locust")]
    if b.rps.median <= 0:
        return None
    ratio = c.rps.median / b.rps.median
    low = c.rps.low / b.rps.high if b.rps.high else ratio
    high = c.rps.high / b.rps.low if b.rps.low else ratio
    ceiling_ratio = c.ceiling_rps / b.ceiling_rps if c.ceiling_rps and b.ceiling_rps else None
    flags: dict[str, int] = defaultdict(int)
    for cell in (c, b):
        for flag, n in cell.flags.items():
            flags[flag] += n
    return Verdict(lesson, users, c, b, ratio, low, high, classify(ratio), ceiling_ratio,
                   dict(flags), scenario_title)  # fmt: skip


def verdicts(
    rows: Iterable[dict[str, Any]], titles: dict[str, str], lessons: Iterable[Lesson] = LESSONS
) -> list[Verdict]:
    found = cells(rows)
    out = []
    for lesson in lessons:
        v = verdict(lesson, found, titles.get(lesson.scenario, lesson.scenario))
        if v is not None:
            out.append(v)
    return out
