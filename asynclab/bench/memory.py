"""Memory: "Flask needs more workers, and more memory", judged from the rows.

Each verdict of ``verdicts.MEMORY_LESSONS`` compares fastapi-async with one of Flask's usual
deployments on one route: successful requests per second per GiB of the service's resident
memory, the median of the repetitions with its range; within ±15% is a tie. "FastAPI wins" is
the claim holding: per GiB it served more, so Flask needed more memory for the same work.

A ratio of requests per GiB is only the deployments' when both served what they could: each
side's share of its ceiling is stated, and a side below 90% of it is flagged with what its
figures say held it back. The report also shows, for every cell, throughput per core of service
CPU and per GiB of resident memory side by side (:func:`efficiency_table`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from asynclab.bench.charts import memory_chart
from asynclab.bench.document import Block, Heading, Image, Para, Table
from asynclab.bench.parity import generator_name, spread_note
from asynclab.bench.profiles import OPEN_TOOLS
from asynclab.bench.scenarios import get_scenario
from asynclab.bench.targets import CEILING_SHARE
from asynclab.bench.verdicts import (
    MEMORY_BASELINES,
    MEMORY_LESSONS,
    MEMORY_SCENARIOS,
    MEMORY_TITLE,
    TIE_TOLERANCE,
    TIMES,
    Cell,
    Verdict,
)
from asynclab.variants import plural

CHALLENGER = MEMORY_LESSONS[0].challenger

COUNTED = (
    "Resident memory is that of the service's whole process tree: the process the lab started "
    "and every descendant (gunicorn's arbiter and its workers; for flask-sync-nginx also nginx "
    "and the program that runs it beside gunicorn; granian's main process and workers; Node's "
    "primary and workers), sampled every 0.25 s by the sampler that samples its CPU. A run "
    "records the mean of the samples in its measured window and the highest one. Each page "
    "is counted once as far as the kernel's per-process figures allow: every process' private "
    "pages (USS) plus the shared pages of the process that has the most. The plain sum of the "
    "processes' RSS would count the pages that forked workers share (the interpreter, its "
    "libraries, what the arbiter loaded) once per worker, charging a multi-process service for "
    "memory it does not hold; PSS would split a shared page among every process that maps it, "
    "the lab's other services and the bench included, so that a service's figure would depend "
    "on what else runs. '-' where the service's processes were not on this machine (compose "
    "mode) or for sets recorded before memory was."
)
INTRO = (
    "The articles say Flask needs more workers, and more memory, than FastAPI. Here each of "
    "Flask's usual deployments (gunicorn sync, gthread and gevent workers) meets fastapi-async "
    "(one uvicorn process) on the same route and concurrency, and the figure compared is "
    "successful requests per second per GiB of resident memory: what each served for the "
    "memory it held. FastAPI's ÷ Flask's, the median of the repetitions with their range; "
    f"within ±{TIE_TOLERANCE:.0%} is a tie. A FastAPI win is the claim holding. Each side's "
    f"share of its ceiling is given: below {CEILING_SHARE:.0%} it served less than its "
    "configuration allows, and the reason its figures give is stated. What the memory counts: "
    "under Throughput per core and per GiB."
)
EFFICIENCY = (
    "Throughput per resource, for every cell: successful requests per second per core of "
    "service CPU (1000 ÷ the CPU milliseconds one request cost the service's processes) and "
    "per GiB of their resident memory (each run's successful rps ÷ its mean resident memory; "
    "median and range over the repetitions). Per core, a service that waits (on Postgres, the "
    "upstream, a pool) looks cheap: it spends little CPU on each request, whatever it served."
)


def tree_text(config: dict[str, Any] | None) -> str:
    """What the tree of a variant holds: ``"gunicorn's arbiter and 3 workers"``."""
    if not config:
        return "its processes"
    n = int(config.get("processes") or 1)
    server = config.get("server")
    if server == "gunicorn":
        text = f"gunicorn's arbiter and {plural(n, 'worker')}"
        return f"nginx, {text}, and the program that runs both" if config.get("proxy") else text
    if server == "granian":
        return f"granian's main process and {plural(n, 'worker')}"
    if n > 1:
        return f"a primary process and {plural(n, 'worker')}"
    return "one process"


def below_ceiling(cell: Cell) -> str | None:
    """Why ``cell`` did not serve 90% of its ceiling, as far as its figures tell; None when it
    did. ``"other work kept its CPUs 97% busy (its own share 40%)"``."""
    if not cell.judged:
        return f"every run was flagged ({cell.flag_text()})"
    share = cell.ceiling_share
    if share is None:
        note = (cell.ceiling_note or "its CPU was not measured").removeprefix("none: ")
        return f"it has no ceiling: {note}"
    if share >= CEILING_SHARE:
        return None
    own, busy = cell.cpu_busy, cell.service_cpus_busy
    if own is None:
        return "its CPU was not measured, so these figures cannot tell what held it back"
    if busy is not None and busy >= CEILING_SHARE and own < CEILING_SHARE:
        return (
            f"other work kept its CPUs {busy:.0%} busy in all (its own share {own:.0%}): "
            "the machine was shared"
        )
    infra = f", {cell.infra_cpu:.2f} cores" if cell.infra_cpu is not None else ""
    return (
        f"it kept {own:.0%} of its cores busy and waited: for its own pools, for Postgres "
        f"and the upstream (unpinned{infra}), or for the generator"
    )


def ceiling_text(cell: Cell) -> str:
    """``"fastapi-async at 98% of its ceiling"``; below 90%, or without one, why."""
    why = below_ceiling(cell)
    if not cell.judged or cell.ceiling_share is None:
        return f"{cell.variant}: {why}"
    at = f"{cell.variant} at {cell.ceiling_share:.0%} of its ceiling"
    return at if why is None else f"{at}, below {CEILING_SHARE:.0%}: {why}"


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} MiB"


def side_text(cell: Cell, manifest: dict[str, Any]) -> str:
    """``"flask-sync held 176 MiB (peak 180) in gunicorn's arbiter and 3 workers for 58 rps"``."""
    config = manifest.get("variants", {}).get(cell.variant)
    peak = f" (peak {cell.rss_mib_max:,.0f})" if cell.rss_mib_max is not None else ""
    return (
        f"{cell.variant} held {_mib(cell.rss_mib)}{peak} in {tree_text(config)} for "
        f"{cell.rps.median:,.0f} rps"
    )


def claim_text(v: Verdict) -> str:
    """What the verdict says of the claim."""
    c, b = v.challenger.variant, v.baseline.variant
    if v.outcome == "win":
        return (
            f"The claim holds here: per GiB, {c} served {TIMES}{v.ratio:.2f} what {b} did, so "
            f"{b} needed more memory for the same work"
        )
    if v.outcome == "tie":
        return f"The claim does not hold here: per GiB, {c} and {b} served about as much"
    return f"The claim is reversed here: per GiB, {b} served more than {c}"


def full_text(v: Verdict, manifest: dict[str, Any]) -> str:
    """The verdict, what it says of the claim, the memory of each side and their ceilings."""
    c, b = v.challenger, v.baseline
    parts = [v.text()]
    if v.judged and not math.isnan(v.ratio):
        parts.append(claim_text(v) + ".")
        note = spread_note(v)
        if note:
            parts.append(note + ".")
    parts.append(f"Resident memory: {side_text(c, manifest)}; {side_text(b, manifest)}.")
    parts.append(f"Ceilings: {ceiling_text(c)}; {ceiling_text(b)}.")
    return " ".join(parts)


def verdict_json(v: Verdict) -> dict[str, Any]:
    """What ``verdicts.json`` adds to a memory verdict's own fields."""
    c, b = v.challenger, v.baseline
    return {
        "challenger_rps_per_gib": c.rps_per_gib.median if c.rps_per_gib else None,
        "baseline_rps_per_gib": b.rps_per_gib.median if b.rps_per_gib else None,
        "challenger_rss_mib": c.rss_mib,
        "baseline_rss_mib": b.rss_mib,
        "below_ceiling": {x.variant: below_ceiling(x) for x in (c, b)},
    }


def _ratio(v: Verdict) -> str:
    if math.isnan(v.ratio):
        return "-"
    c, b = v.figures
    spread = "" if c.n == b.n == 1 else f" ({TIMES}{v.ratio_low:.2f} to {TIMES}{v.ratio_high:.2f})"
    return f"{TIMES}{v.ratio:.2f}{spread}"


def _per_gib(cell: Cell, spread: bool = False) -> str:
    """``"8,120"``, with ``spread`` ``"8,120 (7,900-8,300)"`` over several runs."""
    f = cell.rps_per_gib
    if f is None:
        return "-"
    return (
        f"{f.median:,.0f} ({f.low:,.0f}-{f.high:,.0f})"
        if spread and f.n > 1
        else f"{f.median:,.0f}"
    )


def _share(cell: Cell) -> str:
    share = f"{cell.ceiling_share:.0%}" if cell.ceiling_share is not None else "-"
    return share if below_ceiling(cell) is None else f"{share} (flagged)"


def _measured_without_memory(all_cells: dict[Any, Cell]) -> bool:
    """The set ran the lesson's cells but has no memory figure for them."""
    sides = {v for (s, v, _, _) in all_cells if s in MEMORY_SCENARIOS}
    return CHALLENGER in sides and bool(sides & set(MEMORY_BASELINES))


def section(
    found: list[Verdict],
    all_cells: dict[Any, Cell],
    manifest: dict[str, Any],
    charts_dir: Path,
) -> tuple[list[Block], list[Path]]:
    """The lesson's blocks and its slide; a note when the set could not measure it."""
    mine = [v for v in found if v.lesson in MEMORY_LESSONS]
    heading = Heading(f"{MEMORY_TITLE}?")
    if not mine:
        if not _measured_without_memory(all_cells):
            return [], []
        return [heading, Para("Not judged: this set has no resident memory for these cells "
                              "(compose mode, or a set recorded before memory was).",
                              "note")], []  # fmt: skip
    groups: dict[tuple[str, int], list[Cell]] = {}
    for v in mine:
        group = groups.setdefault((v.lesson.scenario, v.users), [v.challenger])
        group.append(v.baseline)
    rows = [(f"{get_scenario(s).path}, {u} users", cells) for (s, u), cells in groups.items()]
    wins = sum(v.judged and v.outcome == "win" for v in mine)
    judged = sum(v.judged for v in mine)
    title = f"{MEMORY_TITLE}? The claim held in {wins} of {judged} judged comparisons"
    charts = memory_chart(rows, title, charts_dir, "memory")
    table = []
    for v in mine:
        c, b = v.challenger, v.baseline
        table.append([get_scenario(v.lesson.scenario).path, str(v.users), b.variant,
                      tree_text(manifest.get("variants", {}).get(b.variant)),
                      _per_gib(c), _per_gib(b), _ratio(v),
                      v.lesson.words(v.outcome) if v.judged else "not judged",
                      f"{_mib(c.rss_mib)} vs {_mib(b.rss_mib)}",
                      f"{_share(c)} vs {_share(b)}", generator_name(v.tool, manifest)])  # fmt: skip
    headers = ["route", "users", "Flask", "Flask's processes", f"{CHALLENGER} rps per GiB",
               "Flask rps per GiB", "FastAPI ÷ Flask (range)", "verdict",
               "resident memory", "of ceiling", "generator"]  # fmt: skip
    blocks: list[Block] = [heading, Para(INTRO, "note"), Image(charts[0], title),
                           Table(headers, table)]  # fmt: skip
    for v in mine:
        expected = v.lesson.words(v.lesson.expect)
        text = f"{v.lesson.title} (expected: {expected}): {full_text(v, manifest)}"
        blocks.append(Para(text, "verdict"))
    return blocks, charts


def efficiency_table(
    all_cells: dict[Any, Cell], titles: dict[str, str], manifest: dict[str, Any]
) -> list[Block]:
    """Successful rps per core of service CPU and per GiB of resident memory, every cell."""
    rows = []
    # The open-loop lesson's cells are keyed by load, not users: its own table has them.
    closed = [c for c in all_cells.values() if c.tool not in OPEN_TOOLS]
    for c in sorted(closed, key=lambda c: (c.scenario, c.variant, c.users, c.tool)):
        per_core = f"{c.rps_per_core:,.0f}" if c.rps_per_core is not None else "-"
        peak = f" (peak {c.rss_mib_max:,.0f})" if c.rss_mib_max is not None else ""
        rows.append([titles.get(c.scenario, c.scenario), c.name, str(c.users),
                     generator_name(c.tool, manifest), f"{c.rps.median:,.0f}", per_core,
                     _per_gib(c, spread=True),
                     _mib(c.rss_mib) + peak])  # fmt: skip
    return [
        Heading("Throughput per core and per GiB"),
        Para(EFFICIENCY),
        Para(COUNTED, "note"),
        Table(["scenario", "variant", "users", "generator", "successful rps", "rps per core",
               "rps per GiB", "resident memory"], rows),
    ]  # fmt: skip
