"""Where the load generator runs: its CPU set, and how many Locust processes use it.

With more than one generator CPU, Locust's own distributed mode (``--processes N``: a master and
N workers) is the way past one core; one process is one core at most. So an unpinned generator
runs one Locust process and its CPU budget is one core, however many the machine has: dividing
its CPU time by every core would keep it far below the 90% flag and double its ceiling.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from asynclab.procs import parse_cpus, pinning
from asynclab.settings import LabSettings


@dataclass(frozen=True)
class GeneratorPlan:
    taskset: tuple[str, ...]
    cpus: int
    locust_processes: int
    note: str

    def to_json(self) -> dict[str, Any]:
        return {
            "generator_taskset": " ".join(self.taskset) or None,
            "generator_cpu_count": self.cpus,
            "locust_processes": self.locust_processes,
            "generator_plan": self.note,
        }


def generator_plan(settings: LabSettings) -> GeneratorPlan:
    pinned, note = pinning(settings.generator_cpus, settings)
    if pinned is None:
        return GeneratorPlan((), 1, 1, f"{note}; one Locust process, so a budget of one core")
    count = len(parse_cpus(pinned))
    processes = count if count > 1 else 1
    how = (
        f"Locust distributed: {processes} worker processes"
        if processes > 1
        else "one Locust process"
    )
    return GeneratorPlan(("taskset", "-c", pinned), count, processes, f"{note}; {how}")


def pinned_service_cpus(settings: LabSettings) -> tuple[int, ...]:
    """The CPUs the services are pinned to; none where they are not pinned."""
    pinned, _ = pinning(settings.service_cpus, settings)
    return tuple(sorted(parse_cpus(pinned))) if pinned else ()


def service_cpu_count(settings: LabSettings) -> int:
    pinned, _ = pinning(settings.service_cpus, settings)
    return len(parse_cpus(pinned)) if pinned else len(os.sched_getaffinity(0))
