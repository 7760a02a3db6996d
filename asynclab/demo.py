"""The three-act conference demo: every figure measured live, every ceiling from Little's law.

Each act is one lesson of ``asynclab.bench.verdicts.LESSONS``, measured with the bench runner
(``asynclab.bench.matrix.Bench``) against the native lab: ``fastapi-async`` against
``flask-sync`` on one route. The lab is started when it is not running and stopped again at the
end. When Prometheus runs, every Locust run of an act is labelled ``act N: ...``, which the
Grafana dashboards draw as an annotation (from ``locust_running``).

An optional fourth act (``--parity``) asks whether FastAPI is on par with Node and Go: the
parity lesson (``verdicts.PARITY_LESSONS``) on a CPU-light route and an I/O one, within a time
budget, with wrk beside Locust where Node or Go outrun one Locust process.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from asynclab.bench.matrix import Bench
from asynclab.bench.profiles import Profile, ScenarioLevels
from asynclab.bench.results import SUMMARY, read_json
from asynclab.bench.scenarios import get_scenario
from asynclab.bench.verdicts import (
    LESSONS,
    TIMES,
    WORDS,
    Lesson,
    Verdict,
    cells,
    verdict,
)
from asynclab.demo_parity import PARITY_ACT, run_parity_act
from asynclab.demo_slides import act_chart
from asynclab.demo_stage import (
    SHORT,
    STAGE,
    Progress,
    Timing,
    figures,
    prometheus_url,
    say_marked,
)
from asynclab.lab import Lab
from asynclab.procs import LabError
from asynclab.settings import LabSettings


@dataclass(frozen=True)
class Act:
    number: int
    lesson: Lesson
    users: int
    headline: str
    story: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"act {self.number}"


_LESSON = {lesson.key: lesson for lesson in LESSONS}

ACTS: tuple[Act, ...] = (
    Act(1, _LESSON["cpu"], 8,
        "CPU-bound Python: a tie. Processes, not async, add throughput",
        ("Pure-Python work holds the GIL: one thread of Python runs at a time per process.",
         "Both services get the same single core, so both top out at cores / CPU per request.",
         "An event loop cannot compute faster; more processes on more cores can.")),
    Act(2, _LESSON["io"], 64,
        "Waiting on I/O: async wins, as its ceiling predicts",
        ("Each request waits 50 ms in Postgres (pg_sleep) on a pooled connection.",
         "Little's law: throughput <= requests held at once / 0.05 s.",
         "A sync worker holds one request; the event loop holds one per pooled connection.")),
    Act(3, _LESSON["pitfall"], 8,
        "time.sleep inside async def: async loses",
        ("The handler calls time.sleep(0.05) inside async def: the event loop stops for 50 ms.",
         "One event loop then serves one request at a time: 1 / 0.05 s = 20 rps at most.",
         "Sync workers each sleep on their own; use await asyncio.sleep or a def handler.")),
)  # fmt: skip


# --- one act --------------------------------------------------------------------------------


def run_act(
    act: Act, settings: LabSettings, timing: Timing, out_dir: Path, progress: Progress
) -> dict[str, Any]:
    lesson = act.lesson
    scenario = get_scenario(lesson.scenario)
    say = progress.say
    say("")
    say(click.style(f"Act {act.number}. {act.headline}", bold=True))
    for line in act.story:
        say(f"  {line}")
    say(f"  {scenario.path}, {act.users} users, {lesson.baseline} then {lesson.challenger}")
    profile = Profile(
        name=f"demo-{lesson.key}",
        variants=(lesson.baseline, lesson.challenger),
        cells=(ScenarioLevels(scenario.name, (act.users,)),),
        repetitions=timing.repetitions,
        warmup_s=timing.warmup_s,
        duration_s=timing.duration_s,
        calibrate=False,
    )
    bench = Bench(settings, profile, out_dir / "bench", echo=lambda line: say(f"    {line}"),
                  label_prefix=f"{act.label}: ")  # fmt: skip
    runs = len(profile.runs())
    prometheus = prometheus_url(settings)
    with progress.running(f"  act {act.number}", runs * timing.run_s()):
        set_dir = bench.run()
    summary = read_json(set_dir / SUMMARY)
    if summary["status"] == "interrupted":
        raise KeyboardInterrupt
    found = cells(summary["rows"])
    v = verdict(lesson, found, scenario.title)
    if v is None:
        errors = "; ".join(e["error"] for e in summary["errors"]) or "no rows"
        raise LabError(f"act {act.number} measured nothing: {errors}")
    pair = [v.baseline, v.challenger]
    for cell in pair:
        say(f"  {cell.variant:>14}: {cell.rps.text()}, p50 {cell.p50_ms} ms, p99 {cell.p99_ms} ms;"
            f" ceiling {cell.ceiling_note or 'unknown'}")  # fmt: skip
    predicted = f" (its ceiling predicts {TIMES}{v.ceiling_ratio:.2f})" if v.ceiling_ratio else ""
    if not v.judged:  # every run of a side was flagged: figures shown, no verdict claimed
        outcome = f"not judged: {v.not_judged_reason}"
    elif v.as_expected:
        outcome = WORDS[v.outcome]
    else:
        outcome = f"{WORDS[v.outcome]}, expected {WORDS[lesson.expect]}"
    say(click.style(f"  => {lesson.challenger} is {TIMES}{v.ratio:.2f} {lesson.baseline}"
                    f"{predicted}: {outcome}", bold=True))  # fmt: skip
    for flag, n in v.flags.items():
        say(f"  warning: {flag} in {n} runs: these figures may not measure the service")
    charts = slide(act, v, out_dir)
    say(f"  slide: {charts[0]}")
    if prometheus:
        say_marked(say, prometheus, act.label)
    return {
        "act": act.number,
        "lesson": lesson.key,
        "headline": act.headline,
        "scenario": scenario.name,
        "route": scenario.path,
        "users": act.users,
        "variants": {c.variant: figures(c) for c in pair},
        "ratio": round(v.ratio, 3),
        "ceiling_ratio": round(v.ceiling_ratio, 3) if v.ceiling_ratio else None,
        "judged": v.judged,
        "outcome": v.outcome if v.judged else None,
        "expected": lesson.expect,
        "charts": [str(p) for p in charts],
        "result_set": str(set_dir),
    }


def slide(act: Act, v: Verdict, out_dir: Path) -> list[Path]:
    """The act's chart; its title states the lesson, its subtitle the measured ratio."""
    lesson = act.lesson
    scenario = get_scenario(lesson.scenario)
    pair = [v.baseline, v.challenger]
    title = f"Act {act.number} · {act.headline}"
    if not v.judged:  # a slide must never claim what its runs cannot support
        title = f"Act {act.number} · {lesson.title}: not judged ({v.not_judged_reason})"
    elif not v.as_expected:  # a slide must never claim what its bars contradict
        title = (
            f"Act {act.number} · {lesson.title}: expected {WORDS[lesson.expect]}, "
            f"measured {WORDS[v.outcome]}"
        )
    ratio = f"{lesson.challenger} ÷ {lesson.baseline} = {TIMES}{v.ratio:.2f} measured"
    if v.ceiling_ratio:
        ratio += f", {TIMES}{v.ceiling_ratio:.2f} predicted by the ceilings"
    subtitle = f"{ratio}\n{scenario.path}, {act.users} users. Ceilings: " + "; ".join(
        f"{c.variant} {c.ceiling_note}" for c in pair if c.ceiling_note
    )
    return act_chart(pair, title, subtitle, out_dir, f"act{act.number}-{lesson.key}")


# --- the whole demo -------------------------------------------------------------------------

DEFAULT_ACTS = tuple(act.number for act in ACTS)


def run_demo(
    settings: LabSettings,
    out_dir: Path,
    timing: Timing,
    progress: Progress | None = None,
    acts: tuple[int, ...] = DEFAULT_ACTS,
) -> dict[str, Any]:
    """Run the acts numbered ``acts`` (the three lessons by default; 4 is the parity act); write
    ``demo.json`` and one chart per act into ``out_dir``."""
    progress = progress or Progress(enabled=False)
    out_dir.mkdir(parents=True, exist_ok=True)
    lab = Lab(settings, echo=lambda line: progress.say(f"  {line}"))
    started = lab.manifest() is None
    if started:
        progress.say("The lab is not running: starting it (and stopping it at the end).")
        lab.up()
    try:
        done = [run_act(act, lab.settings, timing, out_dir, progress)
                for act in ACTS if act.number in acts]  # fmt: skip
        if PARITY_ACT.number in acts:
            done.append(run_parity_act(PARITY_ACT, lab.settings, timing, out_dir, progress))
    finally:
        if started:
            progress.say("Stopping the lab the demo started.")
            lab.down()
    result = {"timing": timing.__dict__, "acts": done}
    (out_dir / "demo.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def chosen_acts(parity: bool, only: tuple[int, ...]) -> tuple[int, ...]:
    """``--act`` picks acts (4 included); otherwise the three, and the fourth with ``--parity``."""
    if only:
        return tuple(sorted(set(only)))
    return DEFAULT_ACTS + ((PARITY_ACT.number,) if parity else ())


@click.command()
@click.option("--short", is_flag=True, help="Short runs, one repetition: the test mode.")
@click.option(
    "--parity",
    is_flag=True,
    help="Add act 4: is FastAPI on par with Node and Go? (/json and /io/db, about 3 minutes "
    "at most; 1 with --short).",
)
@click.option(
    "--act",
    "only",
    type=click.IntRange(1, PARITY_ACT.number),
    multiple=True,
    help="Run only this act (repeatable), e.g. --act 4 to rehearse the parity act.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where charts and demo.json go (default: results/demo/<time>).",
)
def demo(short: bool, parity: bool, only: tuple[int, ...], out: Path | None) -> None:
    """Three acts, measured live: CPU-bound work ties, I/O-bound work async wins, and a blocking
    call inside async def makes async lose. With --parity, a fourth: FastAPI against Node and Go.

    Starts the native lab when it is not running (and stops it again). Each act prints its
    figures and Little's-law ceilings and writes a slide (PNG and SVG).

    Example: asynclab demo --short
    """
    settings = LabSettings()
    out_dir = out or settings.root / "results" / "demo" / time.strftime("%Y%m%d-%H%M%S")
    timing = SHORT if short else STAGE
    progress = Progress(enabled=sys.stdout.isatty())
    try:
        run_demo(settings, out_dir, timing, progress, chosen_acts(parity, only))
    except LabError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        raise click.Abort from None
    progress.say(f"\nSlides and figures: {out_dir}")
