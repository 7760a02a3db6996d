"""Bench profiles: which scenarios, variants, concurrency levels and repetitions make a matrix.

``quick`` is the demo (three lessons, under four minutes on two cores); ``full`` covers every
scenario and variant with three repetitions (hours, not minutes); ``smoke`` is for tests.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from asynclab.bench.scenarios import get_scenario
from asynclab.variants import VARIANTS, get_variant

Tool = Literal["locust", "wrk"]


@dataclass(frozen=True)
class Cell:
    """One scenario at some concurrency levels."""

    scenario: str
    users: tuple[int, ...]


@dataclass(frozen=True)
class Run:
    """One measured run of the matrix."""

    variant: str
    scenario: str
    users: int
    repetition: int
    tool: Tool = "locust"

    @property
    def key(self) -> str:
        """A directory name: ``io_db__fastapi-async__u64__r1`` (``__wrk`` for wrk runs)."""
        base = f"{self.scenario}__{self.variant}__u{self.users}__r{self.repetition}"
        return base + ("__wrk" if self.tool == "wrk" else "")


@dataclass(frozen=True)
class Profile:
    name: str
    variants: tuple[str, ...]
    cells: tuple[Cell, ...]
    repetitions: int
    warmup_s: float
    duration_s: float
    # Runs repeated with wrk at the same concurrency, to check Locust's numbers against it.
    wrk_check: tuple[Cell, ...] = ()
    calibrate: bool = True

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def runs(self) -> list[Run]:
        """Every run, grouped by variant so the lab switches variants as rarely as possible."""
        runs: list[Run] = []
        for variant in self.variants:
            for rep in range(1, self.repetitions + 1):
                for cell in self.cells:
                    runs += [Run(variant, cell.scenario, u, rep) for u in cell.users]
            for cell in self.wrk_check:
                runs += [Run(variant, cell.scenario, u, 1, "wrk") for u in cell.users]
        return runs


ALL_USERS = (1, 8, 32, 64, 128, 256)

PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        variants=("flask-sync", "fastapi-async"),
        cells=(
            Cell("cpu_python", (1, 8)),
            Cell("io_db", (8, 64)),
            Cell("pitfall", (8, 32)),
        ),
        repetitions=1,
        warmup_s=2,
        duration_s=4,
        wrk_check=(Cell("cpu_python", (8,)), Cell("io_db", (64,))),
    ),
    "full": Profile(
        name="full",
        variants=tuple(VARIANTS),
        cells=(
            Cell("cpu_python", (1, 8, 32)),
            Cell("cpu_native", (1, 8, 32)),
            Cell("io_db", (8, 64, 256)),
            Cell("io_upstream", (8, 64, 256)),
            Cell("fanout", (8, 64, 256)),
            Cell("pitfall", (8, 64)),
            *(
                Cell(name, (64,))
                for name in ("json", "plaintext", "db", "queries", "updates", "fortunes")
            ),
            Cell("mixed", (64,)),
        ),
        repetitions=3,
        warmup_s=5,
        duration_s=15,
        wrk_check=(Cell("cpu_python", (8,)), Cell("io_db", (64,))),
    ),
    "smoke": Profile(
        name="smoke",
        variants=("flask-sync", "fastapi-async"),
        cells=(Cell("io_db", (2,)),),
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
) -> Profile:
    """The profile with command-line overrides; unknown names raise ValueError."""
    changes: dict[str, Any] = {}
    cells = list(profile.cells)
    if scenarios:
        known = {c.scenario: c for c in profile.cells}
        default = tuple(users or (8, 64))
        cells = [known.get(s, Cell(get_scenario(s).name, default)) for s in scenarios]
    if users:
        cells = [Cell(c.scenario, tuple(users)) for c in cells]
    changes["cells"] = tuple(cells)
    if variants:
        changes["variants"] = tuple(get_variant(v).name for v in variants)
    if repetitions is not None:
        changes["repetitions"] = repetitions
    if duration_s is not None:
        changes["duration_s"] = duration_s
    if warmup_s is not None:
        changes["warmup_s"] = warmup_s
    if wrk_check is False:
        changes["wrk_check"] = ()
    elif wrk_check and not profile.wrk_check:
        changes["wrk_check"] = PROFILES["quick"].wrk_check
    if calibrate is not None:
        changes["calibrate"] = calibrate
    return dataclasses.replace(profile, **changes)
