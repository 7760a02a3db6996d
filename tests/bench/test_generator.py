"""The generator's CPU plan: its budget is what its Locust processes can actually use."""

from __future__ import annotations

import os
import shutil

import pytest

from asynclab.bench.generator import generator_plan
from asynclab.settings import LabSettings


@pytest.mark.parametrize(
    "settings",
    [LabSettings(pin_cpus=False), LabSettings(generator_cpus="1023")],
    ids=["pinning off", "CPU not available"],
)
def test_unpinned_generator_has_a_one_core_budget(settings: LabSettings) -> None:
    # One Locust process uses one core at most: a budget of every core would keep its CPU
    # share under 50% on two cores, so the 90% flag could never fire.
    plan = generator_plan(settings)
    assert plan.taskset == ()
    assert (plan.cpus, plan.locust_processes) == (1, 1)
    assert "budget of one core" in plan.note


def test_pinned_generator_runs_one_locust_process_per_cpu() -> None:
    available = sorted(os.sched_getaffinity(0))
    if shutil.which("taskset") is None or len(available) < 2:
        pytest.skip("needs taskset and two CPUs")
    cpus = f"{available[0]},{available[1]}"
    plan = generator_plan(LabSettings(pin_cpus=True, generator_cpus=cpus))
    assert plan.taskset == ("taskset", "-c", cpus)
    assert (plan.cpus, plan.locust_processes) == (2, 2)
