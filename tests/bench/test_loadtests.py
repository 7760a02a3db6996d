"""The Locust scenarios in loadtests/: they load, their answer checks pass against the real
services, and the step shape climbs through its levels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import free_port

from asynclab.bench.generator import generator_plan
from asynclab.bench.locust_run import LoadSpec, locust_command
from asynclab.bench.scenarios import SCENARIOS
from asynclab.bench.steps import parse_levels, step_at
from asynclab.lab import Lab
from asynclab.registry import SERVICES
from asynclab.settings import ROOT, LabSettings

LOADTESTS = ROOT / "loadtests"
SCENARIO_FILES = sorted(p for p in LOADTESTS.glob("*.py") if p.name != "shapes.py")
PROBE = str(Path(__file__).with_name("locust_probe.py").relative_to(ROOT))
# Only a bound: the probe ends each run as soon as it did what the test needs.
BOUND_S = 120


def locust(
    *args: str, timeout: float = BOUND_S + 60, **env: str
) -> subprocess.CompletedProcess[str]:
    environ = os.environ | {"LOCUST_METRICS_PORT": str(free_port())} | env
    return subprocess.run(
        [sys.executable, "-m", "locust", *args], cwd=ROOT, capture_output=True, text=True,
        timeout=timeout, env=environ,
    )  # fmt: skip


def test_every_scenario_class_is_listed() -> None:
    done = locust("-f", "loadtests/", "--list")
    assert done.returncode == 0, done.stderr
    listed = set(done.stdout.split())
    assert {s.user_class for s in SCENARIOS.values()} <= listed


@pytest.mark.slow
@pytest.mark.parametrize("service", SERVICES)
def test_every_scenario_gets_right_answers(lab: Lab, tmp_path: Path, service: str) -> None:
    """One user per class (Mixed included) until every scenario's route was answered: every
    request passes its answer check, on both services."""
    classes = sorted({s.user_class for s in SCENARIOS.values()})
    files = ",".join([*(str(p.relative_to(ROOT)) for p in SCENARIO_FILES), PROBE])
    url = lab.settings.service_url(service)
    routes = ",".join(s.route for s in SCENARIOS.values() if s.name != "mixed")
    done = locust("-f", files, *classes, "--headless", "-u", str(len(classes)),
                  "-r", str(len(classes)), "-t", f"{BOUND_S}s", "-H", url,
                  "--csv", str(tmp_path / "run"), "--only-summary", "--exit-code-on-error", "0",
                  "--json-file", str(tmp_path / "final"),
                  "--ms", "5", "--work", "1000", "--calls", "2", "--queries", "3",
                  LOCUST_PROBE_STOP_WHEN_ANSWERED=routes)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    # The final figures: Locust rewrites its CSV files once a second, never at the very end.
    stats = {e["name"]: e for e in json.loads((tmp_path / "final.json").read_text())}
    failed = {name: e["num_failures"] for name, e in stats.items() if e["num_failures"]}
    assert failed == {}, (tmp_path / "run_failures.csv").read_text()
    for scenario in SCENARIOS.values():
        if scenario.name != "mixed":
            assert stats[scenario.route]["num_requests"] > 0, scenario.route


def test_step_ramp_holds_each_level_then_stops() -> None:
    levels = parse_levels("1, 8,32")
    assert [step_at(levels, 10, t) for t in (0, 9.9, 10, 25, 30)] == [1, 1, 8, 32, None]
    for bad in ("0,8", "", "a,b"):
        with pytest.raises(ValueError, match="positive"):
            parse_levels(bad)


@pytest.mark.slow
def test_step_ramp_runs_in_locust(lab: Lab, tmp_path: Path) -> None:
    """The shape drives a real headless Locust through two levels, then stops it."""
    files = f"loadtests/techempower.py,loadtests/shapes.py,{PROBE}"
    levels = tmp_path / "levels.jsonl"
    # Locust asks the shape for its level once a second: a hold of 3 s gives each level a few
    # asks, so that a busy machine that delays one does not skip the level.
    done = locust("-f", files, "Json", "--headless", "-H", lab.settings.service_url("fastapi"),
                  "--step-levels", "1,2", "--step-hold", "3", "--only-summary",
                  LOCUST_PROBE_FILE=str(levels))  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    # Each level as the runner finished spawning it (not a CSV row sampled once a second).
    users = [json.loads(line)["user_count"] for line in levels.read_text().splitlines()]
    assert users == [1, 2], users


def test_one_generator_cpu_runs_one_locust_process() -> None:
    assert generator_plan(LabSettings(generator_cpus="1")).locust_processes == 1


def test_distributed_generator_when_it_has_several_cpus() -> None:
    settings = LabSettings(generator_cpus="0,1", service_cpus="0")
    plan = generator_plan(settings)
    if not plan.taskset:
        pytest.skip(f"the generator cannot be pinned to CPUs 0,1 here: {plan.note}")
    assert plan.locust_processes == 2
    spec = LoadSpec(SCENARIOS["json"], "http://127.0.0.1:1", 4, 1, 2, Path("/tmp/x"),
                    plan.taskset, plan.locust_processes)  # fmt: skip
    command = locust_command(spec)
    assert command[:3] == ["taskset", "-c", "0,1"]
    assert command[-2:] == ["--processes", "2"]


def test_locust_run_time_is_whole_seconds() -> None:
    # Locust refuses "-t 2.5s"; a fractional --duration must still run.
    spec = LoadSpec(SCENARIOS["json"], "http://127.0.0.1:1", 4, 1, 1.5, Path("/tmp/x"))
    command = locust_command(spec)
    assert command[command.index("-t") + 1] == "3s"
