"""Act 4 of the demo, optional (``asynclab demo --parity``): is FastAPI on par with Node and Go?

The parity lesson (``asynclab.bench.verdicts.PARITY_LESSONS``) on a CPU-light route and an I/O
one: fastapi-async, node-single and go-single with the same pools on the same core, measured
with the bench runner like the other acts, wrk beside Locust where Node or Go may outrun one
Locust process. Its repetitions are cut to fit a time budget, so that it stays an act.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from asynclab.bench.charts import parity_chart
from asynclab.bench.matrix import Bench
from asynclab.bench.parity import explain, tally
from asynclab.bench.profiles import BOTH, Profile, ScenarioLevels
from asynclab.bench.results import SUMMARY, read_json
from asynclab.bench.scenarios import get_scenario
from asynclab.bench.verdicts import PARITY_LESSONS, PARITY_TITLE, TIMES, Verdict, cells, verdict
from asynclab.demo_stage import Progress, Timing, figures, prometheus_url, say_marked
from asynclab.procs import LabError
from asynclab.settings import LabSettings


@dataclass(frozen=True)
class ParityAct:
    """FastAPI against Node and Go on a few routes, repetitions cut to fit ``budget_s``."""

    number: int
    scenarios: tuple[tuple[str, bool], ...]  # (scenario, measured with wrk too)
    users: int
    budget_s: float
    headline: str
    story: tuple[str, ...]
    variants: tuple[str, ...] = ("fastapi-async", "node-single", "go-single")

    @property
    def label(self) -> str:
        return f"act {self.number}"

    def profile(self, timing: Timing, repetitions: int | None = None) -> Profile:
        cells = tuple(ScenarioLevels(s, (self.users,), tools=BOTH if wrk else ("locust",))
                      for s, wrk in self.scenarios)  # fmt: skip
        return Profile(name="demo-parity", variants=self.variants, cells=cells,
                       repetitions=repetitions or timing.repetitions, warmup_s=timing.warmup_s,
                       duration_s=timing.duration_s, calibrate=False)  # fmt: skip

    def repetitions(self, timing: Timing) -> int:
        """As many of the timing's repetitions as the budget holds, one at least."""
        per_repetition = len(self.profile(timing, 1).runs()) * timing.run_s()
        return max(1, min(timing.repetitions, int(self.budget_s // per_repetition)))


PARITY_ACT = ParityAct(
    4, (("json", True), ("io_db", False)), 64, 180.0,
    "On par with Node and Go? Measured, route by route",
    ("FastAPI's docs say its performance is on par with NodeJS and Go: one process each, the "
     "same routes, SQL, pools and core.",
     "/json costs only CPU: the stack that spends less per request answers more.",
     "/io/db waits 50 ms on one of 30 pooled connections: Little's law caps all three at "
     "600 rps.",
     "Where Node or Go outrun one Locust process, wrk measures both sides."),
)  # fmt: skip


def run_parity_act(
    act: ParityAct, settings: LabSettings, timing: Timing, out_dir: Path, progress: Progress
) -> dict[str, Any]:
    say = progress.say
    say("")
    say(click.style(f"Act {act.number}. {act.headline}", bold=True))
    for line in act.story:
        say(f"  {line}")
    repetitions = act.repetitions(timing)
    profile = act.profile(timing, repetitions)
    runs = len(profile.runs())
    planned_s = runs * timing.run_s()
    routes = {s: get_scenario(s).path for s, _ in act.scenarios}
    say(f"  {', '.join(routes.values())}, {act.users} users, {', '.join(act.variants)}: "
        f"{runs} runs, about {planned_s:.0f} s (budget {act.budget_s:.0f} s)")  # fmt: skip
    bench = Bench(settings, profile, out_dir / "bench", echo=lambda line: say(f"    {line}"),
                  label_prefix=f"{act.label}: ")  # fmt: skip
    prometheus = prometheus_url(settings)
    started = time.monotonic()
    with progress.running(f"  act {act.number}", planned_s):
        set_dir = bench.run()
    summary = read_json(set_dir / SUMMARY)
    if summary["status"] == "interrupted":
        raise KeyboardInterrupt
    found = cells(summary["rows"])
    lessons = [x for x in PARITY_LESSONS if x.scenario in routes]
    verdicts = [v for x in lessons if (v := verdict(x, found, get_scenario(x.scenario).title))]
    if not verdicts:
        errors = "; ".join(e["error"] for e in summary["errors"]) or "no rows"
        raise LabError(f"act {act.number} measured nothing: {errors}")
    for v in verdicts:
        said = _parity_line(v, routes[v.lesson.scenario])
        say(click.style(said, bold=True) if v.judged else said)
    title = f"Act {act.number} · {PARITY_TITLE} Measured: {tally(verdicts)}, {act.users} users"
    charts = parity_chart(verdicts, routes, title, out_dir, f"act{act.number}-parity")
    say(f"  slide: {charts[0]}")
    if prometheus:
        say_marked(say, prometheus, act.label)
    return {
        "act": act.number,
        "lesson": "parity",
        "headline": act.headline,
        "routes": list(routes.values()),
        "users": act.users,
        "repetitions": repetitions,
        "planned_s": round(planned_s, 1),
        "elapsed_s": round(time.monotonic() - started, 1),
        "verdicts": [_parity_figures(v) for v in verdicts],
        "charts": [str(p) for p in charts],
        "result_set": str(set_dir),
    }


def _parity_line(v: Verdict, route: str) -> str:
    """``"  => /json: fastapi-async is x0.31 go-single (wrk): FastAPI loses. CPU per ..."``."""
    head = f"  => {route}: {v.challenger.variant} is {TIMES}{v.ratio:.2f} {v.baseline.variant}"
    tool = "" if v.tool == "locust" else f" ({v.tool}: Locust was outrun)"
    if not v.judged:
        return f"{head}{tool}: not judged: {v.not_judged_reason}"
    return f"{head}{tool}: {v.lesson.words(v.outcome)}. {explain(v).text}"


def _parity_figures(v: Verdict) -> dict[str, Any]:
    return {
        "scenario": v.lesson.scenario,
        "challenger": v.challenger.variant,
        "reference": v.baseline.variant,
        "generator": v.tool,
        "ratio": round(v.ratio, 3),
        "ratio_range": [round(v.ratio_low, 3), round(v.ratio_high, 3)],
        "judged": v.judged,
        "outcome": v.outcome if v.judged else None,
        "expected": v.lesson.expect,
        "explained_by": explain(v).kind if v.judged else None,
        "variants": {c.variant: figures(c) for c in (v.challenger, v.baseline)},
    }
