#!/usr/bin/env python3
"""What the Prometheus instrumentation costs: throughput with metrics on versus off.

Starts two native labs side by side (``metrics_enabled`` true and false, free ports, temporary
state dirs), then for each scenario and service runs the same closed-loop Locust load against
one and then the other, alternating which goes first, ``--repeats`` times. Each run is the
bench's own (``asynclab.bench.locust_run``): the bench's scenario with its answer checks, on the
generator CPUs, a discarded warm-up, then the measured window. Only one lab is under load at a
time; the idle one costs nothing. Prints the median requests per second of each side and the
overhead in percent, and writes them as JSON.

    .venv/bin/python scripts/bench_metrics_overhead.py --duration 20 --repeats 3

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
from asynclab.procs import isolated_settings
from asynclab.settings import ROOT

FRAMEWORKS = ("flask", "fastapi")
SCENARIOS = ("json", "io_db")


@contextlib.contextmanager
def running_lab(base: Path, metrics: bool) -> Iterator[Lab]:
    state = base / ("metrics-on" if metrics else "metrics-off")
    state.mkdir(parents=True)
    lab = Lab(isolated_settings(state, metrics_enabled=metrics))
    lab.up()
    try:
        yield lab
    finally:
        lab.down()


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
    parser.add_argument("--duration", type=float, default=20, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of unmeasured load")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS),
                        help="bench scenarios (asynclab/bench/scenarios.py)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "metrics_overhead.json")
    args = parser.parse_args()

    runs: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="asynclab-overhead-") as tmp:
        base = Path(tmp)
        os.chmod(base, 0o755)  # Postgres runs as nobody and must enter the state dirs
        with running_lab(base, True) as on, running_lab(base, False) as off:
            labs = {"on": on, "off": off}
            for repeat in range(args.repeats):
                # Alternate the order so that drift (thermal, caches) does not favour one side.
                order = ["on", "off"] if repeat % 2 == 0 else ["off", "on"]
                for scenario in args.scenarios:
                    for framework in FRAMEWORKS:
                        for mode in order:
                            key = f"{framework} {scenario}"
                            out_dir = base / "runs" / f"{framework}-{scenario}-{mode}-{repeat}"
                            rps = locust_rps(labs[mode], framework, scenario, args, out_dir)
                            runs.setdefault(key, {"on": [], "off": []})[mode].append(rps)
                            print(f"{key:<20} metrics {mode:<3} run {repeat + 1}: {rps:9.1f} req/s")

    summary: dict[str, Any] = {}
    print(f"\n{'':<20} {'on (median)':>12} {'off (median)':>13} {'overhead':>9}")
    for key, sides in runs.items():
        on_rps, off_rps = statistics.median(sides["on"]), statistics.median(sides["off"])
        overhead = 100 * (off_rps - on_rps) / off_rps
        summary[key] = {
            "on": sides["on"],
            "off": sides["off"],
            "on_median": on_rps,
            "off_median": off_rps,
            "overhead_percent": overhead,
        }
        print(f"{key:<20} {on_rps:12.1f} {off_rps:13.1f} {overhead:8.1f}%")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    settings = {"scenarios": args.scenarios, "users": args.users, "warmup_s": args.warmup,
                "duration_s": args.duration, "repeats": args.repeats}  # fmt: skip
    args.out.write_text(json.dumps({"settings": settings, "results": summary}, indent=2) + "\n")
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
