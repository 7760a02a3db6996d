"""The lessons, and verdicts computed from the rows: never written by hand.

A verdict compares a challenger with a baseline on one scenario at the highest concurrency
both were judged at: the ratio of their median successful throughputs (``ok_rps``), its spread
over repetitions, and the ratio of their ceilings, which is what explains it. A lesson of
another ``metric`` compares that instead: the memory lesson, successful rps per GiB of the
service's resident memory (``asynclab.bench.memory``).

A flagged run (errors, a saturated generator, ...) may not measure the service: it is left out
of its cell's figures. A cell whose every run is flagged keeps all of them, so charts still
show what was measured, but it is not judged, and neither is a verdict that needs it.

Verdicts compare Locust's cells. Where Locust was outrun on a side and wrk measured both sides
at that concurrency, the verdict is wrk's, and says so: the generator is never the silent
bottleneck. Locust was outrun where its runs were flagged for the generator's CPU or ceiling,
or where wrk, on the same cell, served more than 10% more: the service could go faster than
Locust asked (a generator whose CPU other work takes is outrun without being busy itself).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from asynclab.bench.rows import FLAG_TEXT

Outcome = Literal["tie", "win", "loss"]
# What a lesson compares: successful requests per second, or those per GiB of resident memory.
Metric = Literal["rps", "rps_per_gib"]
UNITS: dict[Metric, str] = {"rps": "rps", "rps_per_gib": "rps per GiB"}
TIMES = "\u00d7"
MIB_PER_GIB = 1024

# Within ±15 % of each other two variants tie: closer than that, the run-to-run noise of a
# shared two-core machine can flip the order.
TIE_TOLERANCE = 0.15

WORDS: dict[Outcome, str] = {"tie": "a tie", "win": "async wins", "loss": "async loses"}

# The flags that say the generator, not the service, set the pace (rows.FLAG_TEXT).
GENERATOR_FLAGS = ("generator_cpu", "generator_bound")
# Locust and wrk agree within 10% where neither is the bottleneck (targets.wrk_agreement).
WRK_AGREEMENT = 0.10


@dataclass(frozen=True)
class Lesson:
    key: str
    title: str
    scenario: str
    challenger: str
    baseline: str
    expect: Outcome
    # What the challenger stands for in the verdict's words: "async wins", "granian loses".
    subject: str = "async"
    # Name each side's service CPU per request: where a server's cost shows when no ceiling
    # (or the same one) explains the ratio.
    cpu_per_request: bool = False
    metric: Metric = "rps"

    def words(self, outcome: Outcome) -> str:
        """``"a tie"``, ``"async wins"``, ``"granian loses"``."""
        return WORDS[outcome] if self.subject == "async" else _words(outcome, self.subject)


def _words(outcome: Outcome, subject: str) -> str:
    return {"tie": "a tie", "win": f"{subject} wins", "loss": f"{subject} loses"}[outcome]


# Async against sync: the lab's three lessons (the quick profile and the demo).
LESSONS: tuple[Lesson, ...] = (
    Lesson("cpu", "CPU-bound pure Python", "cpu_python",
           "fastapi-async", "flask-sync", "tie"),
    Lesson("io", "Waiting on the database", "io_db",
           "fastapi-async", "flask-sync", "win"),
    Lesson("pitfall", "Blocking call inside async def", "pitfall",
           "fastapi-async", "flask-sync", "loss"),
)  # fmt: skip


def _versus(
    key: str,
    title: str,
    challenger: str,
    baseline: str,
    subject: str,
    **expects: Outcome,
) -> tuple[Lesson, ...]:
    """One pair of variants on each scenario of ``expects``, and what each should show."""
    return tuple(
        Lesson(f"{key}-{scenario}", title, scenario, challenger, baseline, expect, subject, True)
        for scenario, expect in expects.items()
    )


# The server's cost apart from the framework's: each framework on its usual server and on
# granian with the same budget (flask-granian has flask-gthread's workers, threads and
# connections; fastapi-granian is fastapi-async's one process and pool), and both frameworks
# on granian. On /io/db the budgets decide (Little's law): the two servers tie, and FastAPI's
# 30 pooled connections beat Flask's 3 x 8. On /json and /db the CPU each request costs
# decides: gunicorn parses HTTP in Python and hands each request to a thread, granian does so
# in Rust (Flask's server cost shrinks), while uvicorn already parses in C on uvloop (a tie).
# Between the frameworks on granian: /json is CPU-bound pure Python on both (a tie, as
# async vs sync on CPU), /db costs FastAPI less CPU per query with asyncpg on one event loop
# than Flask with psycopg across threads and processes.
SERVER_LESSONS: tuple[Lesson, ...] = (
    *_versus("flask-servers", "Same framework, two servers: Flask on gunicorn (gthread) or "
             "granian", "flask-granian", "flask-gthread", "granian",
             json="win", db="win", io_db="tie"),
    *_versus("fastapi-servers", "Same framework, two servers: FastAPI on uvicorn or granian",
             "fastapi-granian", "fastapi-async", "granian",
             json="tie", db="tie", io_db="tie"),
    *_versus("granian-frameworks", "Same server, two frameworks: Flask or FastAPI on granian",
             "fastapi-granian", "flask-granian", "FastAPI",
             json="tie", db="win", io_db="win"),
)  # fmt: skip

# "On par with NodeJS and Go": FastAPI's usual deployment (one uvicorn process) against one Node
# process and Go on one thread, with the same pools, routes and CPU. The expectations are the
# hypothesis the lesson tests, not its result: on /io/db and /fanout the pools decide (Little's
# law, the same ceilings: a tie); on /json, /db and /queries each request's CPU cost does. The
# report says, from the figures, which ceiling explained each ratio (asynclab.bench.parity).
PARITY_TITLE = "Is FastAPI on par with Node and Go?"
PARITY_REFERENCES = ("node-single", "go-single")
PARITY_EXPECT: dict[str, Outcome] = {
    "json": "loss", "db": "loss", "queries": "loss", "io_db": "tie", "fanout": "tie",
}  # fmt: skip
PARITY_LESSONS: tuple[Lesson, ...] = tuple(
    Lesson(f"parity-{reference.split('-')[0]}-{scenario}", PARITY_TITLE, scenario,
           "fastapi-async", reference, expect, "FastAPI")
    for scenario, expect in PARITY_EXPECT.items()
    for reference in PARITY_REFERENCES
)  # fmt: skip

# "Flask needs more workers, and more memory": each of Flask's usual deployments against
# fastapi-async, as successful requests per second per GiB of resident memory (the service's
# whole process tree), on a route where they wait (/io/db) and the lightest one where they
# compute (/json). "FastAPI wins": it served more per GiB, so Flask needed more memory for the
# same work, as the claim says.
MEMORY_TITLE = "Flask needs more workers, and more memory"
MEMORY_BASELINES = ("flask-sync", "flask-gthread", "flask-gevent")
MEMORY_SCENARIOS = ("io_db", "json")
MEMORY_LESSONS: tuple[Lesson, ...] = tuple(
    Lesson(f"memory-{baseline}-{scenario}", MEMORY_TITLE, scenario, "fastapi-async", baseline,
           "win", "FastAPI", metric="rps_per_gib")
    for scenario in MEMORY_SCENARIOS
    for baseline in MEMORY_BASELINES
)  # fmt: skip

ALL_LESSONS = LESSONS + SERVER_LESSONS + PARITY_LESSONS + MEMORY_LESSONS


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
    """The repetitions of one (scenario, variant, users, tool).

    Figures come from the unflagged runs (``judged``), or from every run when all are flagged.
    """

    scenario: str
    variant: str
    users: int
    tool: str
    rps: Spread  # successful requests per second
    p50_ms: float | None
    p99_ms: float | None
    ceiling_rps: float | None
    ceiling_note: str | None
    flags: dict[str, int] = field(default_factory=dict)  # flag -> runs that raised it
    ceiling_kind: str | None = None  # "slots" (Little's law) or "cpu" (measured CPU capacity)
    runs: int = 0  # every run of the cell, flagged or not
    judged: bool = True  # False: every run was flagged
    slot_ceiling_rps: float | None = None  # the Little's-law ceiling alone
    infra_cpu: float | None = None  # Postgres + upstream, cores
    cpu_ms: float | None = None  # the service's CPU per successful request, milliseconds
    service_cores: float | None = None  # the cores the service could keep busy
    service_cpus_busy: float | None = None  # its CPUs' busy share, whatever ran on them
    rss_mib: float | None = None  # the service tree's resident memory, MiB (window means)
    rss_mib_max: float | None = None  # the highest sample of any of its runs
    # Successful rps per GiB of resident memory, run by run; None where memory was not sampled.
    rps_per_gib: Spread | None = None
    external: bool = False  # ``variant`` is then an external target's label (external.py)

    @property
    def name(self) -> str:
        """The variant, or an external target: ``"fastapi (external)"``."""
        return f"{self.variant} (external)" if self.external else self.variant

    @property
    def label(self) -> str:
        """The name, and the generator when it is not Locust: ``"go-single (wrk)"``."""
        return self.name if self.tool == "locust" else f"{self.name} ({self.tool})"

    @property
    def cpu_busy(self) -> float | None:
        """The share of its cores the service kept busy: throughput x CPU per request."""
        if self.cpu_ms is None or not self.service_cores:
            return None
        return self.rps.median * self.cpu_ms / 1000 / self.service_cores

    @property
    def rps_per_core(self) -> float | None:
        """Requests served per second of the service's CPU: 1000 ÷ its CPU ms per request."""
        return 1000 / self.cpu_ms if self.cpu_ms else None

    def figure(self, metric: Metric) -> Spread | None:
        """The spread a lesson of ``metric`` compares."""
        return self.rps if metric == "rps" else self.rps_per_gib

    @property
    def ceiling_share(self) -> float | None:
        return self.rps.median / self.ceiling_rps if self.ceiling_rps else None

    @property
    def slot_share(self) -> float | None:
        return self.rps.median / self.slot_ceiling_rps if self.slot_ceiling_rps else None

    def flag_text(self) -> str:
        """``"errors above 1% in 3 runs"``."""
        return flags_text(self.flags)


def _runs(n: int) -> str:
    return "1 run" if n == 1 else f"{n} runs"


def flags_text(flags: dict[str, int]) -> str:
    """``"errors above 1% in 3 runs"``: a cell's flags and in how many runs each."""
    return ", ".join(f"{FLAG_TEXT.get(f, f)} in {_runs(n)}" for f, n in flags.items())


def _median(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def ok_rps(row: dict[str, Any]) -> float:
    """Successful requests per second; summaries older than ``ok_rps`` only have ``rps``."""
    value = row.get("ok_rps")
    return float(row["rps"] if value is None else value)


def _median_row(rows: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    """The row holding the (lower) median of ``key``: its other fields belong to that number."""
    known = sorted((r for r in rows if r.get(key) is not None), key=lambda r: r[key])
    return known[(len(known) - 1) // 2] if known else None


def rps_per_gib(row: dict[str, Any]) -> float | None:
    """A run's successful rps per GiB of its service's mean resident memory."""
    rss = row.get("service_rss_mib")
    return ok_rps(row) / (rss / MIB_PER_GIB) if rss else None


def _spread(values: Iterable[float | None]) -> Spread | None:
    known = [v for v in values if v is not None]
    return Spread.of(known) if known else None


def _cell(key: tuple[str, str, int, str], group: list[dict[str, Any]]) -> Cell:
    flags: dict[str, int] = defaultdict(int)
    for row in group:
        for flag in row.get("flags", []):
            flags[flag] += 1
    clean = [r for r in group if not r.get("flags")]
    used = clean or group
    ceiling_row = _median_row(used, "ceiling_rps")
    return Cell(
        *key,
        rps=Spread.of(ok_rps(r) for r in used),
        p50_ms=_median(r.get("p50_ms") for r in used),
        p99_ms=_median(r.get("p99_ms") for r in used),
        ceiling_rps=ceiling_row["ceiling_rps"] if ceiling_row else None,
        # A run without a ceiling may still say why (TechEmpower's database tests).
        ceiling_note=ceiling_row.get("ceiling_note")
        if ceiling_row
        else next((r["ceiling_note"] for r in used if r.get("ceiling_note")), None),
        flags=dict(flags),
        ceiling_kind=ceiling_row.get("ceiling_kind") if ceiling_row else None,
        runs=len(group),
        judged=bool(clean),
        slot_ceiling_rps=_median(r.get("slot_ceiling_rps") for r in used),
        infra_cpu=_median(r.get("infra_cpu") for r in used),
        cpu_ms=_median(r.get("service_cpu_ms_per_request") for r in used),
        service_cores=_median(r.get("service_cores") for r in used),
        service_cpus_busy=_median(r.get("service_cpus_busy") for r in used),
        rss_mib=_median(r.get("service_rss_mib") for r in used),
        rss_mib_max=max((r["service_rss_mib_max"] for r in used
                         if r.get("service_rss_mib_max") is not None), default=None),
        rps_per_gib=_spread(rps_per_gib(r) for r in used),
        external=bool(group[0].get("external")),
    )  # fmt: skip


def subject(row: dict[str, Any]) -> str:
    """What a row measured: its variant, or an external target's label (no variant)."""
    name: str = row.get("variant") or row["target_label"]
    return name


def cells(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, str, int, str], Cell]:
    groups: dict[tuple[str, str, int, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row.get("rps") is not None:
            key = (row["scenario"], subject(row), int(row["users"]), row.get("tool", "locust"))
            groups[key].append(row)
    return {key: _cell(key, group) for key, group in groups.items()}


def classify(ratio: float, tolerance: float = TIE_TOLERANCE) -> Outcome:
    """``classify(1.05) == "tie"``, ``classify(5.2) == "win"``, ``classify(0.3) == "loss"``."""
    if ratio >= 1 + tolerance:
        return "win"
    if ratio <= 1 / (1 + tolerance):
        return "loss"
    return "tie"


@dataclass(frozen=True)
class Verdict:
    lesson: Lesson
    users: int
    challenger: Cell
    baseline: Cell
    ratio: float
    ratio_low: float
    ratio_high: float
    outcome: Outcome  # what the figures say; only a verdict when ``judged``
    ceiling_ratio: float | None
    flags: dict[str, int]
    scenario_title: str
    skipped_levels: tuple[int, ...] = ()  # higher concurrency levels that were not judged
    tool: str = "locust"  # the generator whose cells are compared
    # Why Locust's cells were not used: its generator flags, ``"go-single: generator above 90%
    # CPU in 3 runs"``; None when Locust measured the verdict.
    outrun: str | None = None

    @property
    def judged(self) -> bool:
        return self.challenger.judged and self.baseline.judged

    @property
    def figures(self) -> tuple[Spread, Spread]:
        """(challenger, baseline) spreads of the lesson's metric, which both cells have."""
        metric = self.lesson.metric
        c, b = self.challenger.figure(metric), self.baseline.figure(metric)
        return c or self.challenger.rps, b or self.baseline.rps

    @property
    def not_judged_reason(self) -> str | None:
        if self.judged:
            return None
        return "; ".join(
            f"every run of {c.variant} was flagged ({c.flag_text()})"
            for c in (self.challenger, self.baseline)
            if not c.judged
        )

    @property
    def as_expected(self) -> bool:
        return self.judged and self.outcome == self.lesson.expect

    def _figures(self) -> str:
        (c, b), unit = self.figures, UNITS[self.lesson.metric]
        spread = (
            f" (range {TIMES}{self.ratio_low:.2f} to {TIMES}{self.ratio_high:.2f})"
            if c.n > 1 or b.n > 1
            else ""
        )
        ratio = "" if math.isnan(self.ratio) else f", {TIMES}{self.ratio:.2f}{spread}"
        return (
            f"{self.challenger.variant} {c.text(unit)} vs {self.baseline.variant} "
            f"{b.text(unit)}{ratio}"
        )

    def _ceilings(self) -> str:
        c, b = self.challenger, self.baseline
        if c.ceiling_note and c.ceiling_note == b.ceiling_note and not c.ceiling_rps:
            return f". Ceiling of both: {c.ceiling_note}"
        if not (c.ceiling_note and b.ceiling_note):
            return ""
        ratio = f" ({TIMES}{self.ceiling_ratio:.2f})" if self.ceiling_ratio else ""
        return f". Ceilings: {c.ceiling_note} vs {b.ceiling_note}{ratio}"

    def text(self) -> str:
        c, b = self.challenger, self.baseline
        measured = f", measured with {self.tool}" if self.tool != "locust" else ""
        head = f"{self.scenario_title}, {self.users} users{measured}: "
        if not self.judged:
            return (
                f"{head}not judged: {self.not_judged_reason}. Measured anyway: {self._figures()}."
            )
        line = f"{head}{self._figures()}: {self.lesson.words(self.outcome)}" + (
            "" if self.as_expected else f" (expected {self.lesson.words(self.lesson.expect)})"
        )
        # The ceilings bound throughput: a ratio of another metric has its own section's words.
        if self.lesson.metric == "rps":
            line += self._ceilings()
        said = c.ceiling_kind == b.ceiling_kind == "cpu"  # the ceilings name the CPU already
        if self.lesson.cpu_per_request and c.cpu_ms and b.cpu_ms and not said:
            line += (
                f". Service CPU per request: {c.cpu_ms:.3f} ms vs {b.cpu_ms:.3f} ms "
                f"({TIMES}{c.cpu_ms / b.cpu_ms:.2f})"
            )
        if self.flags:
            what = flags_text(self.flags)
            line += f". Flagged runs, left out: {what}"
        if self.skipped_levels:
            levels = ", ".join(str(u) for u in self.skipped_levels)
            line += f". Not judged at {levels} users: every run of a variant was flagged there"
        if self.outrun:
            line += f". Locust was outrun ({self.outrun}): {self.tool} measured both sides"
        return line + "."

    def to_json(self) -> dict[str, Any]:
        return {
            "lesson": self.lesson.key,
            "title": self.lesson.title,
            "scenario": self.lesson.scenario,
            "users": self.users,
            "challenger": self.challenger.variant,
            "baseline": self.baseline.variant,
            "metric": self.lesson.metric,
            "challenger_rps": self.challenger.rps.median,
            "baseline_rps": self.baseline.rps.median,
            "ratio": _json_number(self.ratio),
            "ratio_range": [_json_number(self.ratio_low), _json_number(self.ratio_high)],
            "judged": self.judged,
            "not_judged_reason": self.not_judged_reason,
            "outcome": self.outcome if self.judged else None,
            "expected": self.lesson.expect,
            "as_expected": self.as_expected,
            "ceiling_ratio": round(self.ceiling_ratio, 3) if self.ceiling_ratio else None,
            "flags": self.flags,
            "skipped_levels": list(self.skipped_levels),
            "generator": self.tool,
            "locust_outrun": self.outrun,
            "text": self.text(),
        }


def _json_number(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 3)


def verdict(
    lesson: Lesson, all_cells: dict[tuple[str, str, int, str], Cell], scenario_title: str
) -> Verdict | None:
    """The verdict at the highest users level where both variants were judged (or, when none
    was, at the highest level measured for both, marked not judged); None without data.

    Locust's, unless Locust was outrun on a side at that level or above and wrk judged both
    sides at a level as high, with as many runs (wrk as a generator of the profile, not a
    one-run check beside three repetitions): then wrk's, naming the runs that outran Locust.
    """
    locust = _verdict(lesson, all_cells, scenario_title, "locust")
    outrun = _outrun(lesson, all_cells, locust.users if locust else 0)
    if locust is None or outrun:
        wrk = _verdict(lesson, all_cells, scenario_title, "wrk")
        if wrk is not None and wrk.judged and (locust is None or _as_measured(wrk, locust)):
            return dataclasses.replace(wrk, outrun=outrun or None)
    return locust


def _as_measured(wrk: Verdict, locust: Verdict) -> bool:
    """wrk's verdict stands for Locust's: as high a concurrency, as many runs a side."""
    return wrk.users >= locust.users and all(
        w.runs >= lo.runs
        for w, lo in ((wrk.challenger, locust.challenger), (wrk.baseline, locust.baseline))
    )


def _outrun(lesson: Lesson, all_cells: dict[tuple[str, str, int, str], Cell], users: int) -> str:
    """Locust's generator flags on either side at ``users`` or above: ``"go-single: generator
    above 90% CPU in 3 runs"``; empty when there are none."""
    parts = []
    for (s, v, u, t), c in sorted(all_cells.items()):
        if s != lesson.scenario or t != "locust" or u < users:
            continue
        if v not in (lesson.challenger, lesson.baseline):
            continue
        found = [f"{FLAG_TEXT.get(f, f)} in {_runs(n)}" for f, n in c.flags.items()
                 if f in GENERATOR_FLAGS]  # fmt: skip
        behind = locust_behind(all_cells, c)
        if behind is not None:
            wrk = all_cells[(s, v, u, "wrk")]
            found.append(f"{c.rps.median:,.0f} rps where wrk served {wrk.rps.median:,.0f}, "
                         f"{behind:.0%} less")  # fmt: skip
        if found:
            parts.append(f"{v} at {u} users: {', '.join(found)}")
    return "; ".join(parts)


def locust_behind(all_cells: dict[tuple[str, str, int, str], Cell], cell: Cell) -> float | None:
    """How far a Locust cell fell short of wrk's on the same cell (0.62: 62% fewer successful
    requests a second), when by more than the generators' agreement; else None."""
    if cell.tool != "locust":
        return None
    wrk = all_cells.get((cell.scenario, cell.variant, cell.users, "wrk"))
    if wrk is None or not wrk.judged or not wrk.rps.median:
        return None
    short = 1 - cell.rps.median / wrk.rps.median
    return short if short > WRK_AGREEMENT else None


def _verdict(
    lesson: Lesson,
    all_cells: dict[tuple[str, str, int, str], Cell],
    scenario_title: str,
    tool: str,
) -> Verdict | None:
    metric = lesson.metric
    pairs = {
        u: (c, b)
        for (s, v, u, t), c in all_cells.items()
        if s == lesson.scenario and v == lesson.challenger and t == tool
        and (b := all_cells.get((s, lesson.baseline, u, t))) is not None
        # Memory unmeasured on a side (compose mode, sets older than it): nothing to compare.
        and c.figure(metric) is not None and b.figure(metric) is not None
    }  # fmt: skip
    if not pairs:
        return None
    judged = [u for u, (c, b) in pairs.items() if c.judged and b.judged]
    users = max(judged) if judged else max(pairs)
    skipped = tuple(sorted(u for u in pairs if u > users))
    c, b = pairs[users]
    cf, bf = c.figure(metric) or c.rps, b.figure(metric) or b.rps
    if bf.median <= 0:
        if c.judged and b.judged:
            return None
        # Nothing succeeded on the baseline: no ratio, but the lesson still says why.
        ratio = low = high = math.nan
    else:
        ratio = cf.median / bf.median
        low = cf.low / bf.high if bf.high else ratio
        high = cf.high / bf.low if bf.low else ratio
    ceiling_ratio = c.ceiling_rps / b.ceiling_rps if c.ceiling_rps and b.ceiling_rps else None
    flags: dict[str, int] = defaultdict(int)
    for cell in (c, b):
        for flag, n in cell.flags.items():
            flags[flag] += n
    return Verdict(lesson, users, c, b, ratio, low, high, classify(ratio), ceiling_ratio,
                   dict(flags), scenario_title, skipped, tool)  # fmt: skip


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
