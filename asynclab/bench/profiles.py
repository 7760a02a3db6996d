"""Bench profiles: which scenarios, variants, concurrency levels and repetitions make a matrix.

``quick`` is the demo (three lessons, under four minutes on two cores); ``full`` covers every
scenario and variant with three repetitions (hours, not minutes); ``servers`` is the servers
and frameworks lesson alone (about ten minutes); ``parity`` is "Is FastAPI on par with Node and
Go?" alone (about half an hour); ``connections`` is "Thousands of connections" alone (about 25
minutes); ``smoke`` is for tests.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any, Literal

from asynclab.bench.scenarios import get_scenario
from asynclab.registry import SERVICES
from asynclab.target import Target
from asynclab.variants import VARIANTS, get_variant

# "open" and "closed": the open-loop lesson's own generator (asynclab.bench.open_gen), at a
# fixed arrival rate and as the closed loop it is compared with (asynclab.bench.open_loop).
Tool = Literal["locust", "wrk", "open", "closed"]
OPEN_TOOLS: tuple[Tool, ...] = ("open", "closed")
# A warm-up stretched to a queue's turnover never exceeds this.
MAX_WARMUP_S = 60.0
# The open-loop lesson: offered loads in percent of each variant's Little's-law ceiling on
# /io/db?ms=50, and the variants it measures: Flask's three ways of holding a request (a
# process, a thread, a greenlet) and FastAPI's two (an event loop, a thread of its pool).
OPEN_LOADS = (50, 80, 95)
OPEN_VARIANTS = ("flask-sync", "flask-gthread", "flask-gevent", "fastapi-async", "fastapi-def")


@dataclass(frozen=True)
class ScenarioLevels:
    """One scenario at some concurrency levels (``repetitions`` overrides the profile's).

    What a profile plans; each (variant, level) of it becomes a measured ``verdicts.Cell``.
    """

    scenario: str
    users: tuple[int, ...]
    repetitions: int | None = None
    # The generators that measure every (variant, level, repetition). wrk beside Locust where a
    # fast service may outrun one Locust process: a verdict whose Locust runs were
    # generator-bound is then judged on wrk's cells (verdicts.verdict), never on the generator's
    # own limit.
    tools: tuple[Tool, ...] = ("locust",)
    # Only these of the profile's variants (None: all of them).
    variants: tuple[str, ...] | None = None

    @property
    def open_loop(self) -> bool:
        """Its levels are offered loads in percent of the ceiling (``OPEN_LOADS``), not users."""
        return any(t in OPEN_TOOLS for t in self.tools)


@dataclass(frozen=True)
class Run:
    """One measured run of the matrix: of a lab variant, or of an external target (``external``,
    ``variant`` is then its label)."""

    variant: str
    scenario: str
    users: int  # the offered load in percent of the ceiling for the open-loop tools
    repetition: int
    tool: Tool = "locust"
    external: bool = False

    @property
    def key(self) -> str:
        """A directory name: ``io_db__fastapi-async__u64__r1`` (``__wrk`` for wrk runs,
        ``io_db__flask-sync__load95__r1__open`` for the open-loop lesson's)."""
        rep = f"r{self.repetition}"
        if self.tool in OPEN_TOOLS:
            return f"{self.scenario}__{self.variant}__load{self.users}__{rep}__{self.tool}"
        base = f"{self.scenario}__{self.variant}__u{self.users}__{rep}"
        return base + ("__wrk" if self.tool == "wrk" else "")


@dataclass(frozen=True)
class Profile:
    name: str
    variants: tuple[str, ...]
    cells: tuple[ScenarioLevels, ...]
    repetitions: int
    warmup_s: float
    duration_s: float
    # Scenarios repeated with wrk at their highest concurrency, to check Locust against it.
    wrk_check: tuple[str, ...] = ()
    calibrate: bool = True
    # Services the lab did not start (``--target``), measured beside ``variants`` or alone.
    targets: tuple[Target, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def warmup_for(self, users: int, ceiling_rps: float | None) -> float:
        """The warm-up, stretched to at least one turnover of the queue.

        In a closed loop each request waits about users ÷ throughput: fanout on flask-sync
        (12 rps) with 256 users takes 21 s, so a 5 s warm-up would measure requests that were
        queued before it ended. ``warmup_for(256, 12.0)`` is 22 s when the profile says 5 s
        (whole seconds: Locust's ``--run-time`` takes no fractions).
        """
        if not ceiling_rps:
            return self.warmup_s
        return max(self.warmup_s, min(math.ceil(users / ceiling_rps), MAX_WARMUP_S))

    def runs(self) -> list[Run]:
        """Every run, in the order the bench makes them.

        A variant of each service (Flask, FastAPI) is served side by side on its service's port,
        so the bench takes them in pairs and alternates between them at every step: whatever
        else slows the machine down then hits all alike. Pairs change as rarely as possible.
        """
        runs: list[Run] = []
        most = max([self.repetitions, *(c.repetitions or 0 for c in self.cells)])
        for pair in self.pairs():
            for rep in range(1, most + 1):
                for cell in self.cells:
                    if rep > (cell.repetitions or self.repetitions):
                        continue
                    # An open-loop cell's loads are shares of a ceiling an external target lacks.
                    mine = [v for v in pair if (cell.variants is None or v in cell.variants)
                            and not (cell.open_loop and self._external(v))]  # fmt: skip
                    for users in cell.users:
                        for tool in cell.tools:
                            runs += [self._run(v, cell.scenario, users, rep, tool) for v in mine]
            for cell in self.cells:
                # A scenario that wrk measures anyway needs no separate check; an open-loop
                # cell's levels are loads, not connections.
                if cell.open_loop:
                    continue
                if cell.scenario in self.wrk_check and "wrk" not in cell.tools:
                    runs += [self._run(v, cell.scenario, max(cell.users), 1, "wrk") for v in pair]
        return runs

    def _external(self, name: str) -> bool:
        return any(t.label == name for t in self.targets)

    def _run(self, name: str, scenario: str, users: int, repetition: int, tool: Tool) -> Run:
        return Run(name, scenario, users, repetition, tool, self._external(name))

    def without_tool(self, tool: Tool) -> Profile:
        """The profile without ``tool`` (wrk where it cannot run): every cell keeps its other
        generators, Locust at least, whose generator-bound runs are then flagged. An open-loop
        cell left without its generators goes: its levels are loads, which Locust cannot offer."""
        cells = tuple(
            dataclasses.replace(c, tools=tuple(t for t in c.tools if t != tool) or ("locust",))
            for c in self.cells
            if not (c.open_loop and not [t for t in c.tools if t != tool])
        )
        wrk_check = () if tool == "wrk" else self.wrk_check
        return dataclasses.replace(self, cells=cells, wrk_check=wrk_check)

    def pairs(self) -> list[tuple[str, ...]]:
        """``("flask-sync", "flask-gthread", "fastapi-async")`` -> ``[("flask-sync",
        "fastapi-async"), ("flask-gthread",)]``: one variant of each service, in the registry's
        order."""

        # A server that runs every framework alike (granian) pairs its variants first, so that
        # the same server with two frameworks is measured in lock step.
        def key(name: str) -> bool:
            return get_variant(name).server != "granian"

        python = [s for s in SERVICES.values() if s.python]
        groups = [
            sorted((v for v in self.variants if get_variant(v).framework == s.name), key=key)
            for s in python
        ]
        rows = [list(v for v in row if v is not None) for row in zip_longest(*groups)]
        # The reference services (Node, Go) are measured beside the Python services' default
        # variants (node-single and go-single beside flask-sync and fastapi-async, which their
        # lesson compares), their other variants in the next groups.
        defaults = {s.variant for s in python}
        start = next((i for i, row in enumerate(rows) if defaults & set(row)), 0)
        for service in (s for s in SERVICES.values() if not s.python):
            mine = [v for v in VARIANTS if v in self.variants and get_variant(v).framework
                    == service.name]  # fmt: skip
            for i, name in enumerate(sorted(mine, key=lambda v: v != service.variant)):
                at = start + i
                if rows:
                    at %= max(len(rows), len(mine))
                while len(rows) <= at:
                    rows.append([])
                rows[at].append(name)
        order = list(SERVICES)
        pairs = [tuple(sorted(row, key=lambda v: order.index(get_variant(v).framework)))
                 for row in rows if row]  # fmt: skip
        # External targets alternate with the first group at every step, or alone.
        labels = tuple(t.label for t in self.targets)
        return [pairs[0] + labels, *pairs[1:]] if pairs else [labels] if labels else []


WRK_CHECK = ("cpu_python", "io_db")
# Node and Go answer these routes faster than one Locust process can ask: wrk measures them too.
# On /io/db and /fanout every variant waits on its pool (Little's law: 600 and 400 rps at most
# here), far below Locust's calibrated ceiling; a run that came near it would still be flagged.
BOTH: tuple[Tool, ...] = ("locust", "wrk")
PARITY_CELLS = (
    ScenarioLevels("json", (64,), tools=BOTH),
    ScenarioLevels("db", (64,), tools=BOTH),
    ScenarioLevels("queries", (64,), tools=BOTH),
    ScenarioLevels("io_db", (64,)),
    ScenarioLevels("fanout", (64,)),
)

# Thousands of connections (asynclab.bench.connections): each concurrency model once, its
# users each holding one request of a second on /io/sleep, which no pool caps.
CONNECTIONS_VARIANTS = ("flask-sync", "flask-gthread", "flask-gevent", "fastapi-async",
                        "fastapi-def", "node-single", "go-single")  # fmt: skip
CONNECTIONS_CELL = ScenarioLevels("io_sleep", (1000, 2000, 5000), 2, variants=CONNECTIONS_VARIANTS)

PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        variants=("flask-sync", "fastapi-async"),
        # Two repetitions at each lesson's decisive concurrency, so that every verdict has a
        # spread; io_db also at 8 users, where both variants are still below their ceilings.
        # CPU gets three: on a shared machine it is the one most disturbed by other work, and
        # the median of three shrugs off one disturbed run.
        cells=(
            ScenarioLevels("cpu_python", (8,), repetitions=3),
            ScenarioLevels("io_db", (8, 64)),
            ScenarioLevels("pitfall", (32,)),
        ),
        repetitions=2,
        warmup_s=2,
        duration_s=3,
        wrk_check=WRK_CHECK,
    ),
    "full": Profile(
        name="full",
        variants=tuple(VARIANTS),
        cells=(
            ScenarioLevels("cpu_python", (1, 8, 32)),
            ScenarioLevels("cpu_native", (1, 8, 32)),
            ScenarioLevels("io_db", (8, 64, 256)),
            ScenarioLevels("io_upstream", (8, 64, 256)),
            ScenarioLevels("fanout", (8, 64, 256)),
            ScenarioLevels("pitfall", (8, 64)),
            # The routes of the parity lesson that Node and Go answer fastest: wrk too.
            *(ScenarioLevels(name, (64,), tools=BOTH) for name in ("json", "db", "queries")),
            *(ScenarioLevels(name, (64,)) for name in ("plaintext", "updates", "fortunes")),
            ScenarioLevels("mixed", (64,)),
            # The open-loop lesson (asynclab.bench.open_loop): its windows stretch to 3,000
            # requests at least, so about 50 minutes more, most of them flask-sync's.
            ScenarioLevels("io_db", OPEN_LOADS, tools=OPEN_TOOLS, variants=OPEN_VARIANTS),
            CONNECTIONS_CELL,
        ),
        repetitions=3,
        warmup_s=5,
        duration_s=15,
        wrk_check=WRK_CHECK,
    ),
    # Servers and frameworks (verdicts.SERVER_LESSONS): each framework on its usual server and
    # on granian, with the same budget.
    "servers": Profile(
        name="servers",
        variants=("flask-gthread", "flask-granian", "fastapi-async", "fastapi-granian"),
        cells=tuple(ScenarioLevels(name, (64,)) for name in ("json", "db", "io_db")),
        repetitions=3,
        warmup_s=3,
        duration_s=10,
    ),
    # Is FastAPI on par with Node and Go (verdicts.PARITY_LESSONS)? The same routes, pools and
    # CPU plan; Flask's usual two deployments for scale.
    "parity": Profile(
        name="parity",
        variants=("flask-sync", "flask-gevent", "fastapi-async", "node-single", "go-single"),
        cells=PARITY_CELLS,
        repetitions=3,
        warmup_s=3,
        duration_s=8,
    ),
    # Thousands of connections alone (about 25 minutes: a variant that cannot hold its users
    # warms up for up to a minute, then restarts to drop its queue).
    "connections": Profile(
        name="connections",
        variants=CONNECTIONS_VARIANTS,
        cells=(CONNECTIONS_CELL,),
        repetitions=2,
        # 5,000 users connect at once: handshakes past a full SYN queue are retried after 1 s
        # and 3 s, which the warm-up must cover.
        warmup_s=10,
        duration_s=8,
    ),
    "smoke": Profile(
        name="smoke",
        variants=("flask-sync", "fastapi-async"),
        cells=(ScenarioLevels("io_db", (2,)),),
        repetitions=1,
        warmup_s=1,
        duration_s=2,
        calibrate=False,
    ),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose from: {', '.join(PROFILES)}") from None


def customise(
    profile: Profile,
    *,
    scenarios: list[str] | None = None,
    variants: list[str] | None = None,
    users: list[int] | None = None,
    repetitions: int | None = None,
    duration_s: float | None = None,
    warmup_s: float | None = None,
    wrk_check: bool | None = None,
    calibrate: bool | None = None,
    targets: tuple[Target, ...] = (),
) -> Profile:
    """The profile with command-line overrides; unknown names raise ValueError.

    With ``targets`` the lab's variants are measured only when ``variants`` names them."""
    changes: dict[str, Any] = {}
    cells = list(profile.cells)
    if scenarios:
        default = tuple(users or (8, 64))
        cells = [
            cell
            for s in scenarios
            for cell in [c for c in profile.cells if c.scenario == s]
            or [ScenarioLevels(get_scenario(s).name, default)]
        ]
    if users:
        # An open-loop cell's levels are loads in percent of the ceiling, not users.
        cells = [c if c.open_loop else dataclasses.replace(c, users=tuple(users)) for c in cells]
    if repetitions is not None:
        cells = [dataclasses.replace(c, repetitions=None) for c in cells]
    changes["cells"] = tuple(cells)
    if variants:
        changes["variants"] = tuple(get_variant(v).name for v in variants)
    elif targets:
        changes["variants"] = ()
    if targets:
        changes["targets"] = tuple(targets)
    if repetitions is not None:
        changes["repetitions"] = repetitions
    if duration_s is not None:
        changes["duration_s"] = duration_s
    if warmup_s is not None:
        changes["warmup_s"] = warmup_s
    if wrk_check is False:
        changes["wrk_check"] = ()
    elif wrk_check and not profile.wrk_check:
        changes["wrk_check"] = WRK_CHECK
    if calibrate is not None:
        changes["calibrate"] = calibrate
    return dataclasses.replace(profile, **changes)
