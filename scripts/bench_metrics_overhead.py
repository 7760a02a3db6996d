#!/usr/bin/env python3
"""What the Prometheus instrumentation costs: throughput with metrics on versus off.

Starts one native lab (free ports, a temporary state dir). Before every run it restarts the
service under test with ``SERVICE_METRICS_ENABLED`` true or false (``Lab.switch`` on a view of
the lab whose settings differ in that flag alone), so the two sides share the same Postgres,
Prometheus, ports and CPU plan, and both start from fresh processes. Two labs side by side
looked equivalent but were not: on this VM the lab started first measured a few percent
slower, whichever side it held (1.5% one way round, 8% the other), which is as large as the
effect measured. Each run is the bench's own (``asynclab.bench.locust_run``): the bench's
scenario with its answer checks, on the generator CPUs, a discarded warm-up, then the measured
window. In metrics-on runs Prometheus scrapes the service as usual: scrapes are part of the
cost.

The on and off runs of a repeat follow each other, in alternating order, so each repeat is a
pair that shares the machine's state of the moment. This VM's speed drifts by 10% over minutes,
more than the effect measured, so the overhead is computed per pair (1 - on/off) and the
median over pairs is the figure, with the range of the pairs beside it. Prints the median
requests per second of each side too, and writes everything as JSON.

    .venv/bin/python scripts/bench_metrics_overhead.py --duration 10 --repeats 7

Heavy: it saturates the service core for about (routes x 2 services x 2 modes x repeats x
(warm-up + duration)) seconds. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from asynclab.bench.generator import generator_plan
from asynclab.bench.idle import wait_idle
from asynclab.bench.locust_run import LoadSpec, run_locust
from asynclab.bench.scenarios import get_scenario
from asynclab.lab import Lab
from asynclab.procs import cpu_plan, describe_cpu_plan, isolated_settings
from asynclab.settings import ROOT
from asynclab.variants import Framework

FRAMEWORKS: tuple[Framework, ...] = ("flask", "fastapi")
SCENARIOS = ("json", "io_db")
MODES = ("on", "off")
TARGET_PERCENT = 5.0  # the budget for the instrumentation


@contextlib.contextmanager
def running_lab(state: Path) -> Iterator[Lab]:
    lab = Lab(isolated_settings(state))
    lab.up()
    try:
        yield lab
    finally:
        lab.down()


def restart(lab: Lab, framework: Framework, metrics: bool) -> None:
    """Serve ``framework`` from new processes, instrumented or not, with its usual variant."""
    s = lab.settings
    variant = s.flask_variant if framework == "flask" else s.fastapi_variant
    Lab(s.model_copy(update={"metrics_enabled": metrics})).switch(framework, variant)


def locust_rps(
    lab: Lab, framework: str, scenario: str, args: argparse.Namespace, out_dir: Path
) -> float:
    """Requests per second in the measured window of one bench run (failures void it)."""
    s = lab.settings
    url = s.flask_url if framework == "flask" else s.fastapi_url
    plan = generator_plan(s)
    env = (("LOCUST_METRICS_PORT", str(s.bench_metrics_port)),)
    spec = LoadSpec(get_scenario(scenario), url, args.users, args.warmup, args.duration, out_dir,
                    plan.taskset, plan.locust_processes, None, env)  # fmt: skip
    wait_idle(url)
    result = run_locust(spec, ROOT, plan.cpus)
    if not result.requests or result.failures:
        raise SystemExit(
            f"{url}: {result.requests} requests, {result.failures} failures; invalid run "
            f"(see {out_dir})"
        )
    return result.rps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of unmeasured load")
    parser.add_argument("--repeats", type=int, default=7, help="on/off pairs per cell")
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS),
                        help="bench scenarios (asynclab/bench/scenarios.py)")  # fmt: skip
    parser.add_argument("--frameworks", nargs="+", default=list(FRAMEWORKS), choices=FRAMEWORKS)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "metrics_overhead.json")
    args = parser.parse_args()

    runs: dict[str, dict[str, list[float]]] = {}
    plan: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="asynclab-overhead-") as tmp:
        base = Path(tmp)
        os.chmod(base, 0o755)  # Postgres runs as nobody and must enter the state dir
        with running_lab(base / "lab") as lab:
            plan = {**cpu_plan(lab.settings), **generator_plan(lab.settings).to_json()}
            print(f"CPU plan: {describe_cpu_plan(plan)}.")
            for repeat in range(args.repeats):
                # Alternate the order so that drift (thermal, caches) does not favour one side.
                order = MODES if repeat % 2 == 0 else MODES[::-1]
                for scenario in args.scenarios:
                    for framework in args.frameworks:
                        for mode in order:
                            key = f"{framework} {scenario}"
                            out_dir = base / "runs" / f"{framework}-{scenario}-{mode}-{repeat}"
                            restart(lab, framework, mode == "on")
                            rps = locust_rps(lab, framework, scenario, args, out_dir)
                            runs.setdefault(key, {"on": [], "off": []})[mode].append(rps)
                            print(f"{key:<20} metrics {mode:<3} run {repeat + 1}: {rps:9.1f} req/s")

    summary: dict[str, Any] = {}
    print(f"\n{'':<16} {'on (median)':>12} {'off (median)':>13} {'overhead':>9}  pairs (range)")
    for key, sides in runs.items():
        on_rps, off_rps = statistics.median(sides["on"]), statistics.median(sides["off"])
        pairs = [100 * (1 - on / off) for on, off in zip(sides["on"], sides["off"], strict=True)]
        overhead = statistics.median(pairs)
        summary[key] = {
            "on": sides["on"],
            "off": sides["off"],
            "on_median": on_rps,
            "off_median": off_rps,
            "pair_overheads_percent": pairs,
            "overhead_percent": overhead,
            "within_target": overhead <= TARGET_PERCENT,
        }
        print(f"{key:<16} {on_rps:12.1f} {off_rps:13.1f} {overhead:8.1f}%  "
              f"({min(pairs):.1f}% to {max(pairs):.1f}%)")  # fmt: skip
    missed = [key for key, cell in summary.items() if not cell["within_target"]]
    print(f"\ntarget: at most {TARGET_PERCENT:.0f}% (median of the pairs): "
          + (f"NOT met for {', '.join(missed)}" if missed else "met in every cell"))  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    settings = {"scenarios": args.scenarios, "frameworks": args.frameworks, "users": args.users,
                "warmup_s": args.warmup, "duration_s": args.duration, "repeats": args.repeats,
                "target_percent": TARGET_PERCENT}  # fmt: skip
    document = {"settings": settings, "cpu_plan": plan, "results": summary}
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
