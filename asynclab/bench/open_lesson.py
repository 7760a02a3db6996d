"""The open-loop lesson's verdicts, computed from the rows, and its section of the report.

Per variant, from its open-loop and closed-loop cells (``asynclab.bench.open_loop``):

- at each load, the **hidden tail**: the open loop's p99 ÷ the closed loop's p99, both at
  about the target rate. Medians of the repetitions, and the range (the lowest open run ÷ the
  highest closed run, and the other way round). x1.15 or more: the closed loop hid the tail; within
  ±15%: no tail hidden (a tie, as the other lessons'); below: the closed loop's was longer;
- the **growth of the tail**: the open loop's p99 at the highest judged load ÷ at the lowest, with
  its range likewise: how the tail grows as the load nears the ceiling.

A cell whose every run is flagged is not judged, and neither is what needs it; its figures are
shown with the flags and the reason. Where the open loop fell short of its target, the reason
is read from the same level's closed loop: Little's law on what it measured (slots ÷ throughput
is the time each request really held its slot) gives the variant's real ceiling. A target above
it is the variant's limit; a target below it that was not held is the machine's (the generator
sent late, or something else took the CPUs during the window).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asynclab.bench.charts import LoadPoint, open_loop_chart
from asynclab.bench.document import Block, Heading, Image, Para, Table
from asynclab.bench.open_loop import (
    HOLD_MARGIN,
    P999_MIN,
    SCENARIO,
    SHORTFALL,
    WINDOW_REQUESTS,
)
from asynclab.bench.profiles import OPEN_TOOLS
from asynclab.bench.scenarios import get_scenario
from asynclab.bench.targets import CEILING_SHARE
from asynclab.bench.verdicts import TIMES, Outcome, Spread, classify, flags_text

TITLE = "Open loop: the tail a closed loop hides"
HIDDEN_WORDS: dict[Outcome, str] = {
    "win": "the closed loop hid the tail",
    "tie": "no tail hidden (a tie)",
    "loss": "the closed loop's tail was the longer",
}
GROWTH_WORDS: dict[Outcome, str] = {
    "win": "the tail grows",
    "tie": "the tail stays flat (a tie)",
    "loss": "the tail shrinks",
}


@dataclass(frozen=True)
class OpenCell:
    """The repetitions of one (variant, load, tool): figures from the unflagged runs, or from
    every run when all are flagged (then ``judged`` is False)."""

    variant: str
    load: int  # percent of the ceiling
    tool: str  # "open" or "closed"
    runs: int
    judged: bool
    flags: dict[str, int]
    target_rps: float
    achieved: Spread  # right answers a second inside the window
    sent_rps: float | None
    p50_ms: Spread | None
    p99_ms: Spread | None
    p999_ms: Spread | None  # None below P999_MIN requests in a run
    requests: int  # the fewest of a run
    lag_p99_ms: float | None
    users: int | None  # the closed loop's
    ceiling_rps: float | None
    ceiling_note: str | None
    service_cpus_busy: float | None = None  # the service CPUs' busy share, whatever ran

    @property
    def of_target(self) -> float:
        return self.achieved.median / self.target_rps if self.target_rps else math.nan

    @property
    def of_ceiling(self) -> float | None:
        return self.achieved.median / self.ceiling_rps if self.ceiling_rps else None

    def flag_text(self) -> str:
        """``"achieved more than 2% below the target arrival rate in 3 runs"``."""
        return flags_text(self.flags)


def _spread(rows: list[dict[str, Any]], key: str) -> Spread | None:
    values = [float(r[key]) for r in rows if r.get(key) is not None]
    return Spread.of(values) if values else None


def _median(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [float(r[key]) for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else None


def _cell(variant: str, load: int, tool: str, group: list[dict[str, Any]]) -> OpenCell:
    flags: dict[str, int] = defaultdict(int)
    for row in group:
        for flag in row.get("flags", []):
            flags[flag] += 1
    clean = [r for r in group if not r.get("flags")]
    used = clean or group
    achieved = _spread(used, "ok_rps") or Spread.of([0.0])
    users = [int(r["closed_users"]) for r in used if r.get("closed_users") is not None]
    return OpenCell(
        variant, load, tool, len(group), bool(clean), dict(flags),
        target_rps=_median(used, "target_rps") or 0.0, achieved=achieved,
        sent_rps=_median(used, "sent_rps"), p50_ms=_spread(used, "p50_ms"),
        p99_ms=_spread(used, "p99_ms"),
        # Every run's, or none: a median of some runs' p99.9 would hide the others'.
        p999_ms=_spread(used, "p999_ms") if all(r.get("p999_ms") is not None for r in used)
        else None,
        requests=min(int(r.get("requests") or 0) for r in used),
        lag_p99_ms=_median(used, "lag_p99_ms"), users=max(users) if users else None,
        ceiling_rps=_median(used, "ceiling_rps"),
        ceiling_note=next((r["ceiling_note"] for r in used if r.get("ceiling_note")), None),
        service_cpus_busy=_median(used, "service_cpus_busy"),
    )  # fmt: skip


def open_cells(rows: list[dict[str, Any]]) -> dict[tuple[str, int, str], OpenCell]:
    """The lesson's cells, keyed (variant, load, tool)."""
    groups: dict[tuple[str, int, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row.get("tool") in OPEN_TOOLS and row.get("scenario") == SCENARIO:
            groups[(row["variant"], int(row["users"]), row["tool"])].append(row)
    return {key: _cell(*key, group) for key, group in groups.items()}


@dataclass(frozen=True)
class Ratio:
    """A ratio of two cells' medians, and its range over their runs."""

    value: float
    low: float
    high: float
    runs: int  # the most runs of a side: 1 means no spread

    @classmethod
    def of(cls, top: Spread, bottom: Spread) -> Ratio | None:
        if bottom.median <= 0 or bottom.low <= 0:
            return None
        return cls(top.median / bottom.median, top.low / bottom.high, top.high / bottom.low,
                   max(top.n, bottom.n))  # fmt: skip

    @property
    def outcome(self) -> Outcome:
        return classify(self.value)

    def text(self) -> str:
        """``"x2.10 (range x1.90 to x2.30)"``, or ``"x2.10 (1 run each)"`` (a times sign)."""
        if self.runs == 1:
            return f"{TIMES}{self.value:.2f} (1 run each)"
        return f"{TIMES}{self.value:.2f} (range {TIMES}{self.low:.2f} to {TIMES}{self.high:.2f})"


@dataclass(frozen=True)
class Level:
    load: int
    open: OpenCell | None
    closed: OpenCell | None

    @property
    def hidden(self) -> Ratio | None:
        """The open loop's p99 ÷ the closed loop's."""
        if self.open is None or self.closed is None:
            return None
        if self.open.p99_ms is None or self.closed.p99_ms is None:
            return None
        return Ratio.of(self.open.p99_ms, self.closed.p99_ms)

    @property
    def judged(self) -> bool:
        cells = (self.open, self.closed)
        return all(c is not None and c.judged for c in cells) and self.hidden is not None


@dataclass(frozen=True)
class OpenVerdict:
    variant: str
    levels: tuple[Level, ...]
    notes: dict[int, str] = field(default_factory=dict)  # load -> why it fell short

    @property
    def growth(self) -> tuple[int, int, Ratio] | None:
        """(lowest load, highest load, the open p99 at the highest ÷ at the lowest), over the
        loads whose open loop was judged."""
        tails = [
            (lv.load, lv.open.p99_ms)
            for lv in self.levels
            if lv.open is not None and lv.open.judged and lv.open.p99_ms is not None
        ]
        if len(tails) < 2:
            return None
        (low, bottom), (high, top) = tails[0], tails[-1]
        ratio = Ratio.of(top, bottom)
        return (low, high, ratio) if ratio else None

    @property
    def judged(self) -> bool:
        return any(lv.judged for lv in self.levels)

    def level_text(self, lv: Level) -> str:
        head = f"at {lv.load}%"
        o, c = lv.open, lv.closed
        if o is None:
            return f"{head}: no open-loop run"
        opened = (f"open loop {o.achieved.median:,.1f} of {o.target_rps:,.1f} rps, "
                  f"p99 {_ms(o.p99_ms)}")  # fmt: skip
        closed = (
            "no closed-loop run"
            if c is None
            else (
                f"closed loop ({c.users} users, {c.achieved.median:,.1f} rps) p99 {_ms(c.p99_ms)}"
            )
        )
        hidden = lv.hidden
        figures = f"{opened} vs {closed}" + (f": {hidden.text()}" if hidden else "")
        if not lv.judged:
            why = "; ".join(f"every {x.tool}-loop run flagged ({x.flag_text()})"
                            for x in (o, c) if x is not None and not x.judged)  # fmt: skip
            note = self.notes.get(lv.load)
            return f"{head}: not judged: {why or 'no p99'}{f' ({note})' if note else ''}. " \
                   f"Measured anyway: {figures}"  # fmt: skip
        assert hidden is not None
        return f"{head}: {figures}: {HIDDEN_WORDS[hidden.outcome]}"

    def text(self) -> str:
        parts = [self.level_text(lv) for lv in self.levels]
        line = f"{self.variant}: " + "; ".join(parts) + "."
        grown = self.growth
        if grown is not None:
            low, high, ratio = grown
            line += (f" From {low}% to {high}% of the ceiling the open loop's p99 changes "
                     f"{ratio.text()}: {GROWTH_WORDS[ratio.outcome]}.")  # fmt: skip
        else:
            line += " Growth of the tail not judged: fewer than two loads judged."
        return line

    def to_json(self) -> dict[str, Any]:
        grown = self.growth
        growth = None
        if grown is not None:
            low, high, ratio = grown
            growth = {"from": low, "to": high, **_ratio_json(ratio), "outcome": ratio.outcome}
        return {
            "lesson": f"open-loop-{self.variant}",
            "title": TITLE,
            "scenario": SCENARIO,
            "variant": self.variant,
            "judged": self.judged,
            "levels": [_level_json(lv, self.notes.get(lv.load)) for lv in self.levels],
            "growth": growth,
            "text": self.text(),
        }


def _level_json(lv: Level, note: str | None) -> dict[str, Any]:
    o, c, hidden = lv.open, lv.closed, lv.hidden
    return {
        "load": lv.load,
        "judged": lv.judged,
        "target_rps": o.target_rps if o else None,
        "achieved_rps": o.achieved.median if o else None,
        "open_p99_ms": o.p99_ms.median if o and o.p99_ms else None,
        "open_p999_ms": o.p999_ms.median if o and o.p999_ms else None,
        "closed_p99_ms": c.p99_ms.median if c and c.p99_ms else None,
        "closed_users": c.users if c else None,
        "closed_rps": c.achieved.median if c else None,
        "hidden": None if hidden is None else _ratio_json(hidden),
        "outcome": hidden.outcome if lv.judged and hidden else None,
        "reason": note,
    }


def _ratio_json(r: Ratio) -> dict[str, Any]:
    return {"ratio": round(r.value, 3), "range": [round(r.low, 3), round(r.high, 3)]}


def _ms(s: Spread | None) -> str:
    return "-" if s is None else f"{s.median:,.0f} ms"


def shortfall_reason(o: OpenCell, c: OpenCell | None, hold_s: float) -> str | None:
    """Why an open loop fell short of its target: the variant's ceiling, or the machine.

    The closed loop's Little's law, when it had a user for every slot at least: the slots ÷
    its throughput is how long each request really held a slot, and the slots ÷ that is the
    variant's real ceiling. Below the target, it is the variant's own limit while the
    hold stays within the service's own time (``HOLD_MARGIN`` beyond the wait); a longer hold
    means something slowed the service (other work on its CPUs, a busy Postgres): the machine.
    """
    if "short_of_target" not in o.flags:
        return None
    said = f"served {o.achieved.median:,.1f} of {o.target_rps:,.1f} rps"
    if o.sent_rps is not None and o.sent_rps < (1 - SHORTFALL) * o.target_rps:
        return f"{said}: the generator itself sent only {o.sent_rps:,.1f}: the machine's"
    slots = (o.ceiling_rps or 0) * hold_s
    # With fewer users than slots a slot idles while its user turns round (reads, reconnects):
    # the closed loop's throughput then says nothing of the ceiling.
    if c is None or not c.users or c.users < slots or c.achieved.median <= 0:
        return said
    held = slots / c.achieved.median
    real = slots / held
    measured = (f"the closed loop measured {held * 1000:.1f} ms a request per slot "
                f"(Little's law: {slots:g} ÷ {c.achieved.median:,.1f} rps), so "
                f"{slots:g} slots serve {real:,.0f} rps")  # fmt: skip
    busy = "" if c.service_cpus_busy is None else (
        f"; the service CPUs were {c.service_cpus_busy:.0%} busy")  # fmt: skip
    if real >= (1 - SHORTFALL) * o.target_rps:
        late = "; the generator was late" if "generator_late" in o.flags else ""
        return f"{said}: the machine's: {measured}, enough for the target{late}"
    if held > hold_s * (1 + HOLD_MARGIN):
        return (f"{said}: the machine's: {measured}, below the target, but "
                f"{held / hold_s - 1:.0%} beyond the {hold_s * 1000:g} ms wait, more than the "
                f"service's own time: something slowed it{busy}")  # fmt: skip
    return f"{said}: the variant's: {measured}, below the target{busy}"


def open_verdicts(rows: list[dict[str, Any]]) -> list[OpenVerdict]:
    found = open_cells(rows)
    hold_s = get_scenario(SCENARIO).wait_ms / 1000
    out = []
    for variant in dict.fromkeys(k[0] for k in found):
        loads = sorted({k[1] for k in found if k[0] == variant})
        levels = tuple(Level(load, found.get((variant, load, "open")),
                             found.get((variant, load, "closed"))) for load in loads)  # fmt: skip
        notes = {}
        for lv in levels:
            if lv.open is not None:
                reason = shortfall_reason(lv.open, lv.closed, hold_s)
                if reason:
                    notes[lv.load] = reason
        out.append(OpenVerdict(variant, levels, notes))
    return out


# --- the report's section -------------------------------------------------------------------

INTRO = (
    "Locust's users are a closed loop: each waits for its answer before it sends again, so a "
    "slow service slows the load down and the requests that would have queued are never sent "
    "(coordinated omission). Here /io/db?ms=50 is offered at a fixed arrival rate, 50%, 80% "
    "and 95% of each variant's Little's-law ceiling, by a generator of the lab's own "
    "(asyncio and aiohttp, pinned where Locust runs): requests start on a schedule of Poisson "
    "arrivals fixed before the run, whatever happened to those before them, and each latency "
    "counts from its intended start (wrk2's rule), so a request the generator sent late is "
    "charged its lateness. Beside each level, the same generator as a closed loop, with the "
    "fewest users that run as fast as the target: latency from the actual send, as Locust's. "
    f"Percentiles are nearest-rank over every request of the window, errors included; p99.9 "
    f"only from {P999_MIN:,} requests on (windows stretch to {WINDOW_REQUESTS:,}, 120 s at "
    "most). A run whose achieved rate falls more than 2% short of its target is flagged, not "
    "judged. Hidden tail: the open loop's p99 ÷ the closed loop's, medians of the repetitions "
    f"with their range; {TIMES}1.15 or more means the closed loop hid the tail."
)


def _pct(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.0%}"


def _spread_ms(s: Spread | None) -> str:
    if s is None:
        return "-"
    if s.n == 1:
        return f"{s.median:,.0f}"
    return f"{s.median:,.0f} ({s.low:,.0f}-{s.high:,.0f})"


def _rate(s: Spread) -> str:
    """``"299.5 (298.0-301.2)"``: one decimal, as flask-sync's 30 rps needs."""
    if s.n == 1:
        return f"{s.median:,.1f}"
    return f"{s.median:,.1f} ({s.low:,.1f}-{s.high:,.1f})"


def _status(lv: Level, note: str | None) -> str:
    """Judged, or the flags and the reason; and why a cell below 90% of its ceiling is."""
    o, c = lv.open, lv.closed
    parts = []
    if o is not None:
        parts.append(f"offered at {o.load}% of the ceiling by design")
    share = c.of_ceiling if c is not None else None
    if c is not None and share is not None and share < CEILING_SHARE and c.judged:
        parts.append(f"closed loop at {share:.0%} of its ceiling ({c.ceiling_note}): its users "
                     "are sized to the target, which it held")  # fmt: skip
    for cell in (o, c):
        if cell is not None and cell.flags:
            state = "" if cell.judged else ", not judged"
            parts.append(f"{cell.tool} loop: {cell.flag_text()}{state}")
    if note:
        parts.append(note)
    return "; ".join(parts) or "-"


def table(verdicts: list[OpenVerdict]) -> Table:
    rows = []
    for v in verdicts:
        for lv in v.levels:
            o, c = lv.open, lv.closed
            p999 = "-"
            if o is not None and o.p999_ms is not None:
                p999 = _spread_ms(o.p999_ms)
            elif o is not None:
                p999 = f"- ({o.requests:,} requests)"
            closed = (
                "-"
                if c is None
                else (f"{c.users} users, {c.achieved.median:,.1f} rps, p99 {_spread_ms(c.p99_ms)}")
            )
            hidden = lv.hidden
            rows.append([
                v.variant, f"{lv.load}%",
                "-" if o is None else f"{o.target_rps:,.1f}",
                "-" if o is None else f"{_rate(o.achieved)} ({_pct(o.of_target)})",
                "-" if o is None else _spread_ms(o.p50_ms),
                "-" if o is None else _spread_ms(o.p99_ms), p999, closed,
                "-" if hidden is None else hidden.text(),
                "yes" if lv.judged else "no",
                _status(lv, v.notes.get(lv.load)),
            ])  # fmt: skip
    headers = ["variant", "load", "target rps", "achieved rps (range; of target)", "p50 ms",
               "p99 ms (range)", "p99.9 ms", "closed loop", "open ÷ closed p99", "judged",
               "why (flags, reasons)"]  # fmt: skip
    return Table(headers, rows)


def headline(verdicts: list[OpenVerdict]) -> str:
    """``"… at the highest load judged: flask-sync x8.10 at 80%, …"`` (a times sign)."""
    parts = []
    for v in verdicts:
        judged = [lv for lv in v.levels if lv.judged and lv.hidden]
        if judged:
            lv = judged[-1]
            assert lv.hidden is not None
            parts.append(f"{v.variant} {TIMES}{lv.hidden.value:.2f} at {lv.load}%")
        else:
            parts.append(f"{v.variant} not judged")
    return f"{TITLE}. Open ÷ closed p99 at the highest load judged: {', '.join(parts)}"


def points(v: OpenVerdict) -> list[LoadPoint]:
    out = []
    for lv in v.levels:
        o, c = lv.open, lv.closed
        if o is None or o.p99_ms is None:
            continue
        out.append(LoadPoint(
            load=lv.load, p50=o.p50_ms.median if o.p50_ms else None, p99=o.p99_ms.median,
            p99_low=o.p99_ms.low, p99_high=o.p99_ms.high,
            p999=o.p999_ms.median if o.p999_ms else None,
            closed_p99=c.p99_ms.median if c and c.p99_ms else None, judged=lv.judged,
        ))  # fmt: skip
    return out


def section(
    rows: list[dict[str, Any]], charts_dir: Path
) -> tuple[list[Block], list[Path], list[OpenVerdict]]:
    """The lesson's blocks, its slide and its verdicts; nothing when the set has no open loop."""
    found = open_verdicts(rows)
    if not found:
        return [], [], []
    title = headline(found)
    charts = open_loop_chart({v.variant: points(v) for v in found}, title, charts_dir,
                             "open_loop")  # fmt: skip
    blocks: list[Block] = [Heading(TITLE), Para(INTRO, "note"), Image(charts[0], title),
                           table(found)]  # fmt: skip
    blocks += [Para(v.text(), "verdict") for v in found]
    return blocks, charts, found
