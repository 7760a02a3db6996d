"""Is FastAPI on par with Node and Go? What explains each measured ratio, read from its cells.

Each verdict of ``verdicts.PARITY_LESSONS`` is a ratio, FastAPI ÷ Node or FastAPI ÷ Go, with its
spread over the repetitions. Its explanation comes from the same two cells, never from the
expectation:

- ``pool``: both sides ran at 90% or more of their Little's-law ceiling (slots ÷ hold time, the
  I/O routes): the pools set the pace, and the ceilings' ratio predicts the measured one;
- ``cpu``: both kept 90% or more of their cores busy (throughput x measured CPU per request):
  cores ÷ CPU per request predicts the ratio;
- ``one-cpu``: one side ran out of CPU, the other did not: the other waited, for its own pools,
  Postgres or the upstream (unpinned), or other work took its CPUs (a generator that set the
  pace is named by the verdict);
- ``contended``: neither ran out of CPU of its own, but other work kept a side's CPUs 90% busy
  or more (the machine was shared): the services' own figures cannot say what held them back;
- ``waiting``: neither ran out of CPU nor reached a pool's ceiling, on CPUs left free: both
  waited, and these figures cannot say for what;
- ``unknown``: the services' CPU was not measured (compose mode records it as null).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from asynclab.bench.charts import parity_chart
from asynclab.bench.document import Block, Heading, Image, Para, Table
from asynclab.bench.profiles import OPEN_TOOLS
from asynclab.bench.scenarios import get_scenario
from asynclab.bench.verdicts import (
    PARITY_EXPECT,
    PARITY_LESSONS,
    PARITY_REFERENCES,
    PARITY_TITLE,
    TIMES,
    Cell,
    Outcome,
    Verdict,
    classify,
)
from asynclab.variants import plural

# The share of a ceiling (slots, or cores) at which it is the one that holds a service back:
# the same as the I/O target's (targets.CEILING_SHARE).
BUSY = 0.90

Kind = Literal["pool", "cpu", "one-cpu", "contended", "waiting", "unknown"]
COUNTED: dict[Outcome, tuple[str, str]] = {
    "tie": ("tie", "ties"), "loss": ("loss", "losses"), "win": ("win", "wins"),
}  # fmt: skip


def counted(n: int, outcome: Outcome) -> str:
    """``counted(1, "win") == "1 win"``, ``counted(3, "tie") == "3 ties"``."""
    return f"{n} {COUNTED[outcome][0 if n == 1 else 1]}"


def tally(verdicts: list[Verdict]) -> str:
    """``"3 ties, 5 losses, 2 not judged"``: what a slide's title says it measured."""
    found = {o: sum(v.judged and v.outcome == o for v in verdicts) for o in COUNTED}
    unjudged = sum(not v.judged for v in verdicts)
    counts = [counted(n, o) for o, n in found.items() if n]
    return ", ".join(counts + ([f"{unjudged} not judged"] if unjudged else []))


@dataclass(frozen=True)
class Explanation:
    kind: Kind
    text: str


def _cpu(cell: Cell) -> str:
    """``"fastapi-async 98% of 1 core busy at 0.312 ms CPU per request"``."""
    busy, cores = cell.cpu_busy, cell.service_cores
    ms = f"{cell.cpu_ms:.3f} ms CPU per request" if cell.cpu_ms is not None else "unmeasured CPU"
    if busy is None or cores is None:
        return f"{cell.variant} {ms}"
    return f"{cell.variant} {busy:.0%} of {plural(int(cores), 'core')} busy at {ms}"


def _elsewhere(*cells: Cell) -> str:
    """Where a service that did not run out of cores may have waited: what this lab can name."""
    known = [f"{c.infra_cpu:.2f}" for c in cells if c.infra_cpu is not None]
    used = f", used {' and '.join(known)} cores" if known else ""
    return (
        f"for its own pools (a connection, a slot), for Postgres and the upstream (unpinned"
        f"{used}), or for CPUs other work held"
    )


def _pool(v: Verdict) -> Explanation | None:
    c, b = v.challenger, v.baseline
    if c.slot_share is None or b.slot_share is None:
        return None
    shares = ", ".join(f"{x.variant} {x.slot_share:.0%} of {x.slot_ceiling_rps:,.0f} rps"
                       for x in (c, b) if x.slot_share is not None)  # fmt: skip
    if min(c.slot_share, b.slot_share) < BUSY or not c.slot_ceiling_rps or not b.slot_ceiling_rps:
        return None
    predicted = c.slot_ceiling_rps / b.slot_ceiling_rps
    if classify(predicted) == "tie":
        why = "the same ceiling: the pool sets the pace, not the framework"
    else:
        why = (
            f"the ceilings' ratio {TIMES}{predicted:.2f} predicts the measured {TIMES}{v.ratio:.2f}"
        )
    return Explanation("pool", f"Little's law: both ran at their pool's ceiling ({shares}); {why}")


def _contended(cell: Cell) -> bool:
    """Its CPUs were busy, mostly with other work than the service's."""
    return (cell.service_cpus_busy or 0) >= BUSY and (cell.cpu_busy or 0) < BUSY


def _capacity(cell: Cell) -> float:
    """Requests per second its cores allow: cores ÷ CPU per request (both known)."""
    return (cell.service_cores or 0) / ((cell.cpu_ms or math.inf) / 1000)


def explain(v: Verdict) -> Explanation:
    """What the two cells of ``v`` say held each side back."""
    pool = _pool(v)
    if pool is not None:
        return pool
    c, b = v.challenger, v.baseline
    short = ""
    if c.slot_share is not None and b.slot_share is not None:
        short = (f"Not the pools alone ({c.variant} {c.slot_share:.0%}, {b.variant} "
                 f"{b.slot_share:.0%} of their Little's-law ceilings). ")  # fmt: skip
    if c.cpu_busy is None or b.cpu_busy is None:
        return Explanation("unknown", f"{short}The services' CPU was not measured: these figures "
                                      "cannot tell what held them back")  # fmt: skip
    busy = [x for x in (c, b) if (x.cpu_busy or 0) >= BUSY]
    if len(busy) == 2:
        # Both cpu_busy figures exist, so do their CPU per request and cores.
        predicted = _capacity(c) / _capacity(b)
        both = f"{_cpu(c)}; {_cpu(b)}"
        text = (
            f"CPU per request: both kept their cores busy ({both}); cores ÷ CPU per request "
            f"predicts {TIMES}{predicted:.2f}, measured {TIMES}{v.ratio:.2f}"
        )
        return Explanation("cpu", short + text)
    if len(busy) == 1:
        [out] = busy
        other = b if out is c else c
        held = (f"other work took its CPUs ({other.service_cpus_busy:.0%} busy in all)"
                if _contended(other) else
                f"it waited: {_elsewhere(other)}")  # fmt: skip
        text = (
            f"{out.variant} ran out of CPU ({_cpu(out)}); {other.variant} did not ({_cpu(other)}): "
        )
        return Explanation("one-cpu", short + text + held)
    taken = [x for x in (c, b) if _contended(x)]
    if taken:
        shares = ", ".join(f"{x.variant}'s {x.service_cpus_busy:.0%}" for x in taken)
        text = (
            f"Neither ran out of CPU of its own ({_cpu(c)}; {_cpu(b)}), but other work (other "
            f"processes, or the kernel's) kept the service CPUs busy ({shares} busy in all): "
            "on CPUs they shared, their own figures cannot tell what held them back; run the "
            "lesson on CPUs nothing else uses"
        )
        return Explanation("contended", short + text)
    text = f"Neither ran out of CPU ({_cpu(c)}; {_cpu(b)}): both waited: {_elsewhere(c, b)}"
    return Explanation("waiting", short + text)


def spread_note(v: Verdict) -> str | None:
    """When the runs' range crosses a boundary of the ±15% tie, the median alone decides it."""
    if math.isnan(v.ratio_low) or math.isnan(v.ratio_high):  # nothing succeeded on a side
        return None
    low, high = classify(v.ratio_low), classify(v.ratio_high)
    if low == high:
        return None
    return (
        f"The runs' range ({TIMES}{v.ratio_low:.2f} to {TIMES}{v.ratio_high:.2f}) spans "
        f"{v.lesson.words(low)} and {v.lesson.words(high)}: more repetitions would settle it"
    )


def full_text(v: Verdict) -> str:
    """The verdict, its explanation and, when the spread crosses a tie boundary, that."""
    if not v.judged:  # its figures may be the generator's or the errors': nothing to explain
        return v.text()
    parts = [v.text(), explain(v).text + "."]
    note = spread_note(v)
    if note:
        parts.append(note + ".")
    return " ".join(parts)


# --- the report's section -------------------------------------------------------------------

INTRO = (
    "Three of the four articles this lab answers say FastAPI's performance is \"on par with "
    'NodeJS and Go". Here fastapi-async (one uvicorn process) meets node-single (one Node '
    "process, Fastify) and go-single (Go's net/http, GOMAXPROCS=1) on the same routes, SQL and "
    "bodies, with the same pools (30 database connections) on the same service CPUs. Each "
    "ratio is FastAPI's successful throughput ÷ the reference's, the median of the repetitions "
    "with their range; within ±15% is a tie. What explains it is read from the same runs: "
    "Little's law where both ran at their pool's ceiling, the measured CPU per request where "
    "both ran out of cores, and otherwise who did and who did not."
)
# The closing table: Flask's usual two deployments for scale, then FastAPI and the references.
TABLE_VARIANTS = ("flask-sync", "flask-gevent", "fastapi-async", *PARITY_REFERENCES)
CLOSING = (
    "The median of the repetitions at the verdicts' concurrency, from the generator the route's "
    "verdicts used (wrk where Locust was outrun). wrk counts non-2xx answers as errors but "
    "does not check bodies; Locust does."
)
KIND_TEXT: dict[Kind, str] = {
    "pool": "the pool (Little's law)",
    "cpu": "CPU per request",
    "one-cpu": "one side's CPU",
    "contended": "other work on the service CPUs",
    "waiting": "waits, not CPU",
    "unknown": "not measured",
}


def generator_name(tool: str, manifest: dict[str, Any]) -> str:
    """``"wrk"``, ``"Locust"`` or ``"Locust, 3 processes"`` (the set's CPU plan)."""
    if tool != "locust":
        return tool
    processes = (manifest.get("cpu_plan") or {}).get("locust_processes") or 1
    return "Locust" if processes == 1 else f"Locust, {processes} processes"


def _route(scenario: str) -> str:
    return get_scenario(scenario).path


def _ratio(v: Verdict) -> str:
    if math.isnan(v.ratio):
        return "-"
    spread = "" if v.challenger.rps.n == v.baseline.rps.n == 1 else (
        f" ({TIMES}{v.ratio_low:.2f} to {TIMES}{v.ratio_high:.2f})")  # fmt: skip
    return f"{TIMES}{v.ratio:.2f}{spread}"


def _figures(cell: Cell | None, manifest: dict[str, Any]) -> str:
    if cell is None:
        return "-"
    p99 = f", p99 {cell.p99_ms:,.0f} ms" if cell.p99_ms is not None else ""
    flagged = "" if cell.judged else "; every run flagged"
    return f"{cell.rps.median:,.0f} rps{p99} ({generator_name(cell.tool, manifest)}{flagged})"


def closing_table(
    found: list[Verdict], all_cells: dict[Any, Cell], manifest: dict[str, Any]
) -> Table | None:
    """rps and p99 of each variant on each route, from the generator its verdicts used."""
    # The open-loop lesson's cells are keyed by load, not users: never a closed-loop figure.
    all_cells = {k: c for k, c in all_cells.items() if k[3] not in OPEN_TOOLS}
    scenarios = [s for s in PARITY_EXPECT if any(k[0] == s for k in all_cells)]
    variants = [v for v in TABLE_VARIANTS if any(k[1] == v and k[0] in scenarios
                                                 for k in all_cells)]  # fmt: skip
    if not scenarios or not variants:
        return None
    rows = []
    for scenario in scenarios:
        mine = [v for v in found if v.lesson.scenario == scenario]
        tool = "wrk" if any(v.tool == "wrk" for v in mine) else "locust"
        levels = [u for (s, _, u, _) in all_cells if s == scenario]
        users = max(v.users for v in mine) if mine else max(levels)
        row = [_route(scenario), str(users)]
        for variant in variants:
            cell = all_cells.get((scenario, variant, users, tool)) or next(
                (c for (s, v, u, _), c in all_cells.items()
                 if (s, v, u) == (scenario, variant, users)), None)  # fmt: skip
            row.append(_figures(cell, manifest))
        rows.append(row)
    return Table(["route", "users", *variants], rows)


def section(
    found: list[Verdict],
    all_cells: dict[Any, Cell],
    manifest: dict[str, Any],
    charts_dir: Path,
) -> tuple[list[Block], list[Path]]:
    """The lesson's blocks and its slide; nothing when the set holds none of its verdicts."""
    mine = [v for v in found if v.lesson in PARITY_LESSONS]
    if not mine:
        return [], []
    routes = {s: _route(s) for s in PARITY_EXPECT}
    title = f"{PARITY_TITLE} Measured: {tally(mine)} (FastAPI ÷ {', '.join(PARITY_REFERENCES)})"
    charts = parity_chart(mine, routes, title, charts_dir, "parity")
    rows = []
    for v in mine:
        kind = explain(v).kind if v.judged else None
        rows.append([routes[v.lesson.scenario], v.baseline.variant, str(v.users), _ratio(v),
                     v.lesson.words(v.outcome) if v.judged else "not judged",
                     generator_name(v.tool, manifest),
                     KIND_TEXT[kind] if kind else "-"])  # fmt: skip
    headers = ["route", "FastAPI ÷", "users", "ratio (range)", "verdict", "generator",
               "explained by"]  # fmt: skip
    blocks: list[Block] = [Heading(PARITY_TITLE), Para(INTRO, "note"), Image(charts[0], title),
                           Table(headers, rows)]  # fmt: skip
    for v in mine:
        expected = v.lesson.words(v.lesson.expect)
        blocks.append(Para(f"{v.lesson.title} (expected: {expected}): {full_text(v)}", "verdict"))
    table = closing_table(mine, all_cells, manifest)
    if table is not None:
        blocks += [Heading("Throughput and p99 on each route", 3), Para(CLOSING, "note"), table]
    return blocks, charts
