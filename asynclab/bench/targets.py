"""The bench's measurable targets, checked against a result set (shown in the report).

- on ``/io/db?ms=50`` every variant reaches at least 90% of its Little's-law ceiling where it
  saturates (the slot ceiling, predicted from the configuration: the measured CPU capacity
  would pass a CPU-bound cell by construction);
- where Locust is not generator-bound it agrees with wrk within 10%;
- repeated steady-state runs vary by at most 5% (coefficient of variation of throughput);
- the quick profile finishes, report included, in under 4 minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asynclab.bench.verdicts import WRK_AGREEMENT, Cell

CEILING_SHARE = 0.90
__all__ = ["CEILING_SHARE", "WRK_AGREEMENT", "Target", "targets"]
MAX_CV = 0.05
QUICK_SECONDS = 240


@dataclass(frozen=True)
class Target:
    name: str
    met: bool | None  # None: this set cannot tell
    detail: str

    def text(self) -> str:
        verdict = {True: "met", False: "NOT met", None: "not measured"}[self.met]
        return f"{self.name}: {verdict}. {self.detail}"


def io_ceiling(cells: dict[Any, Cell]) -> Target:
    name = "I/O wait reaches 90% of its Little's-law ceiling at saturation"
    best: dict[str, Cell] = {}
    io = [
        c
        for c in cells.values()
        if c.scenario == "io_db" and c.tool == "locust" and c.slot_share is not None
    ]
    for c in sorted(io, key=lambda c: c.users):
        best[c.variant] = c  # the highest concurrency wins: the most saturated
    if not best:
        return Target(name, None, "no /io/db runs of the lab's variants in this set")
    parts = []
    for v, c in sorted(best.items()):
        note = "" if c.judged else f" (not judged: every run flagged, {c.flag_text()})"
        parts.append(f"{v} {c.slot_share:.0%} of {c.slot_ceiling_rps:,.0f} rps at "
                     f"{c.users} users{note}")  # fmt: skip
    judged = [c for c in best.values() if c.judged]
    met = all((c.slot_share or 0) >= CEILING_SHARE for c in judged) if judged else None
    if judged and len(judged) < len(best):
        met = False  # a variant that could not be judged has not shown it reaches its ceiling
    return Target(name, met, "; ".join(parts))


def wrk_agreement(cells: dict[Any, Cell]) -> Target:
    name = "Locust agrees with wrk within 10% where not generator-bound"
    parts, met = [], True
    for (scenario, variant, users, tool), w in sorted(cells.items()):
        loc = cells.get((scenario, variant, users, "locust"))
        if tool != "wrk" or loc is None or not w.rps.median:
            continue
        diff = loc.rps.median / w.rps.median - 1
        if loc.judged and w.judged:
            met = met and abs(diff) <= WRK_AGREEMENT
        flagged = [c for c in (loc, w) if not c.judged]
        note = "".join(f" (not judged: {c.tool} {c.flag_text()})" for c in flagged)
        parts.append(f"{scenario} {loc.name} {users} users {diff:+.1%}{note}")
    if not parts:
        return Target(name, None, "no wrk runs in this set (--wrk-check)")
    return Target(name, met, "; ".join(parts))


def repeatability(cells: dict[Any, Cell]) -> Target:
    name = "Repeated runs vary by at most 5% (CV of throughput)"
    cvs = [(c.rps.cv, c) for c in cells.values() if c.rps.cv is not None and c.tool == "locust"]
    if not cvs:
        return Target(name, None, "one repetition per cell")
    worst_cv, worst = max(cvs, key=lambda x: x[0])
    within = sum(cv <= MAX_CV for cv, _ in cvs)
    return Target(name, worst_cv <= MAX_CV,
                  f"{within} of {len(cvs)} cells within 5%; worst {worst.scenario} "
                  f"{worst.name} {worst.users} users, CV {worst_cv:.1%}")  # fmt: skip


def quick_time(manifest: dict[str, Any], report_seconds: float) -> Target:
    name = "quick profile under 4 minutes, report included"
    seconds = manifest.get("bench_seconds")
    if manifest.get("profile", {}).get("name") != "quick" or seconds is None:
        return Target(name, None, "not a quick set")
    total = seconds + report_seconds
    detail = f"bench {seconds:.0f} s + report {report_seconds:.0f} s = {total:.0f} s"
    return Target(name, total < QUICK_SECONDS, detail)


def targets(
    cells: dict[Any, Cell], manifest: dict[str, Any], report_seconds: float
) -> list[Target]:
    return [io_ceiling(cells), wrk_agreement(cells), repeatability(cells),
            quick_time(manifest, report_seconds)]  # fmt: skip
