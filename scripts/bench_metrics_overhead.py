#!/usr/bin/env python3
"""What the Prometheus instrumentation costs: throughput with metrics on versus off.

Starts one native lab (free ports, a temporary state dir) and measures both sides in one run.
This VM's speed drifts by 10% over minutes, more than the effect, so the design matters more
than the length:

- ``--design corun`` (the default): the lab's service and a twin of it (same variant, same
  CPU, same Postgres, another port), one with ``SERVICE_METRICS_ENABLED`` true and one false,
  are loaded at the same time, each by its own wrk on the generator CPUs. Two saturated
  processes on one CPU get equal shares of it, so the ratio of their throughputs is the ratio of
  their costs per request, and drift hits both sides at once: a pair varies by about a percent
  where sequential runs varied by ±4%. The two swap sides every pair (lab service on, then
  twin on), so neither the process started first nor its port can favour a side.
- ``--design sequential``: the service under test is restarted with metrics on, then off (in
  alternating order), and loaded alone; ``--generator locust`` runs the bench's own Locust
  scenarios, answer checks included: the conditions of a bench run, at the price of drift.

Either way, every start is checked (``/metrics`` answers 200 or 404 to match), each run is a
discarded warm-up then a measured window, and runs are flagged as the bench flags them
(generator above 90% CPU, or above 80% of its ceiling on that route); a cell with a flagged run
does not count as measured. Not two labs side by side, started one after the other: those are
not comparable (on Flask /json 8.0% and 9.2% with the metrics-on lab started first, 1.5% with
it started second). In metrics-on runs Prometheus scrapes the service as usual: scrapes are
part of the cost.

The overhead of a pair is 1 - on/off; the figure is the median over the pairs, printed with
their range and with the median requests per second of each side, and written as JSON.

    make bench-overhead
    .venv/bin/python scripts/bench_metrics_overhead.py --scenarios json --frameworks flask

Heavy: it saturates the service core for about (routes x 2 services x repeats x (warm-up +
duration)) seconds, twice that with ``--design sequential``. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from asynclab.bench.generator import generator_plan
from asynclab.bench.idle import wait_idle
from asynclab.bench.interrupt import stop_signals_interrupt
from asynclab.bench.locust_run import LoadSpec, run_locust
from asynclab.bench.rows import FLAG_TEXT, flags, run_generator_ceiling
from asynclab.bench.scenarios import SCENARIOS as BENCH_SCENARIOS
from asynclab.bench.scenarios import get_scenario
from asynclab.bench.wrk import WrkTarget, run_wrk, run_wrk_together
from asynclab.lab import Lab, LabError
from asynclab.procs import cpu_plan, describe_cpu_plan, free_ports, isolated_settings, stop_process
from asynclab.registry import SERVICES, get_service
from asynclab.settings import ROOT
from asynclab.variants import Framework

SCENARIOS = ("json", "io_db")
MODES = ("on", "off")
TARGET_PERCENT = 5.0  # the most the instrumentation may cost in throughput


@contextlib.contextmanager
def running_lab(state: Path) -> Iterator[Lab]:
    lab = Lab(isolated_settings(state))
    lab.up()
    try:
        yield lab
    finally:
        lab.down()


class InvalidRun(Exception):
    """A run that measured something else than the service with metrics on or off."""


def service_url(lab: Lab, framework: Framework) -> str:
    return lab.settings.service_url(framework)


def restart(lab: Lab, framework: Framework, metrics: bool) -> None:
    """Serve ``framework`` from new processes, instrumented or not, with its usual variant."""
    s = lab.settings
    variant = variant_of(lab, framework)
    Lab(s.model_copy(update={"metrics_enabled": metrics})).switch(framework, variant)
    check_metrics(service_url(lab, framework), metrics)


def check_metrics(url: str, metrics: bool) -> None:
    # A figure for the wrong side would be the worst result: check the start took the setting.
    status = httpx.get(url + "/metrics", timeout=10).status_code
    if status != (200 if metrics else 404):
        raise InvalidRun(f"{url}/metrics answered {status} after a start with metrics={metrics}")


def variant_of(lab: Lab, framework: Framework) -> str:
    return lab.settings.variant(framework)


@dataclass(frozen=True)
class Measured:
    rps: float
    generator_cpu: float | None  # share of the generator's CPU budget, 0..1
    flags: tuple[str, ...]


def measure(
    lab: Lab, framework: Framework, scenario: str, args: argparse.Namespace, out_dir: Path
) -> Measured:
    """One run's requests per second in its measured window (a failure voids the run)."""
    s = lab.settings
    url = service_url(lab, framework)
    plan = generator_plan(s)
    bench_scenario = get_scenario(scenario)
    wait_idle(url)
    if args.generator == "wrk":
        w = run_wrk(url + bench_scenario.path, args.users, args.duration, args.warmup,
                    out_dir / "wrk.txt", plan.taskset, plan.cpus, None, plan.cpus)  # fmt: skip
        requests, failures, rps, generator_cpu = w.requests, w.errors, w.rps, w.generator_cpu
    else:
        env = (("LOCUST_METRICS_PORT", str(s.bench_metrics_port)),)
        spec = LoadSpec(bench_scenario, url, args.users, args.warmup, args.duration, out_dir,
                        plan.taskset, plan.locust_processes, None, env)  # fmt: skip
        r = run_locust(spec, ROOT, plan.cpus)
        requests, failures, rps, generator_cpu = r.requests, r.failures, r.rps, r.generator_cpu
    return judged(url, rps, requests, failures, generator_cpu, generator_cpu)


def judged(url: str, rps: float, requests: int, failures: int, generator_cpu: float | None,
           generator_load: float | None) -> Measured:  # fmt: skip
    """A run as the bench judges it: void on a failure, flagged as the bench flags its rows.

    ``generator_cpu`` is this run's generator's share, which gives its own ceiling;
    ``generator_load`` is the load on the generator CPUs, which must leave headroom.
    """
    if not requests or failures:
        raise InvalidRun(f"{url}: {requests} requests, {failures} failures")
    row = {"rps": rps, "generator_cpu": generator_load, "requests": requests,
           "generator_ceiling_rps": run_generator_ceiling(rps, generator_cpu)}  # fmt: skip
    return Measured(rps, generator_cpu, tuple(flags(row, None)))


SCRAPE_INTERVAL_S = 2.0  # prometheus/prometheus.yml


@contextlib.contextmanager
def scraping(url: str | None) -> Iterator[None]:
    """GET ``url`` every SCRAPE_INTERVAL_S while in the block, as Prometheus would (None: no)."""
    if url is None:
        yield
        return
    stop = threading.Event()

    def scrape() -> None:
        with httpx.Client(timeout=SCRAPE_INTERVAL_S) as client:
            while not stop.wait(SCRAPE_INTERVAL_S):
                with contextlib.suppress(httpx.HTTPError):  # a late scrape is a missed one
                    client.get(url)

    thread = threading.Thread(target=scrape, name="twin-scraper", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def measure_together(
    lab: Lab, framework: Framework, scenario: str, args: argparse.Namespace, base: Path, pair: int
) -> dict[str, Measured]:
    """One co-run pair: the lab's service and a twin share the service CPU, one instrumented.

    Each gets its own wrk (both on the generator CPUs) for the same window, so the machine's
    drift hits both sides at once and the ratio of their throughputs is the ratio of their
    costs per request. The lab's service and the twin swap sides every pair, so that neither
    the process started first nor its port can favour a side.
    """
    lab_on = pair % 2 == 0
    restart(lab, framework, lab_on)
    s = lab.settings
    twin = Lab(s.model_copy(update={
        "state_dir": base / "twin", get_service(framework).port_setting: free_ports(1)[0],
        "metrics_enabled": not lab_on}))  # fmt: skip
    record = twin.start_service(framework, variant_of(lab, framework))
    try:
        lab_url, twin_url = service_url(lab, framework), service_url(twin, framework)
        urls = {"on": lab_url, "off": twin_url} if lab_on else {"on": twin_url, "off": lab_url}
        check_metrics(urls["on"], True)
        check_metrics(urls["off"], False)
        path = get_scenario(scenario).path
        out_dir = base / "runs" / f"{framework}-{scenario}-{pair}"
        targets = [WrkTarget(urls[mode] + path, out_dir / f"wrk-{mode}.txt") for mode in MODES]
        plan = generator_plan(s)
        # Prometheus scrapes the lab's port only: when the twin is the instrumented side, this
        # scrapes it as often, so that both sides of every pair pay for their scrapes.
        with scraping(None if lab_on else urls["on"] + "/metrics"):
            results = run_wrk_together(targets, args.users, args.duration, args.warmup,
                                       plan.taskset, plan.cpus, plan.cpus)  # fmt: skip
    finally:
        stop_process(record, twin.settings)
    # The two wrk share the generator CPUs: it is their sum that must leave headroom.
    load = sum(r.generator_cpu or 0.0 for r in results)
    return {mode: judged(urls[mode], r.rps, r.requests, r.errors, r.generator_cpu, load)
            for mode, r in zip(MODES, results, strict=True)}  # fmt: skip


def measure_pair(
    lab: Lab, framework: Framework, scenario: str, args: argparse.Namespace, base: Path, pair: int
) -> dict[str, Measured]:
    """One run with metrics on and one with metrics off, as ``--design`` says."""
    if args.design == "corun":
        return measure_together(lab, framework, scenario, args, base, pair)
    measured = {}
    # Alternate the order so that drift does not favour one side.
    for mode in MODES if pair % 2 == 0 else MODES[::-1]:
        out_dir = base / "runs" / f"{framework}-{scenario}-{mode}-{pair}"
        restart(lab, framework, mode == "on")
        measured[mode] = measure(lab, framework, scenario, args, out_dir)
    return measured


def summarise(runs: dict[str, dict[str, list[Measured]]]) -> dict[str, Any]:
    """Per cell: both sides' figures, the overhead of each pair, its median and the flags."""
    summary: dict[str, Any] = {}
    for key, sides in runs.items():
        # Whole pairs only: main appends a pair's two sides one after the other, and a Ctrl-C
        # between the two appends leaves one side a run longer than the other.
        pairs_done = min(len(sides["on"]), len(sides["off"]))
        if not pairs_done:
            continue
        on_runs, off_runs = sides["on"][:pairs_done], sides["off"][:pairs_done]
        on = [run.rps for run in on_runs]
        off = [run.rps for run in off_runs]
        pairs = [100 * (1 - a / b) for a, b in zip(on, off, strict=True)]
        overhead = statistics.median(pairs)
        flagged = sorted({f for run in on_runs + off_runs for f in run.flags})
        summary[key] = {
            "on": on,
            "off": off,
            "on_generator_cpu": [run.generator_cpu for run in on_runs],
            "off_generator_cpu": [run.generator_cpu for run in off_runs],
            "on_median": statistics.median(on),
            "off_median": statistics.median(off),
            "pair_overheads_percent": pairs,
            "overhead_percent": overhead,
            "flags": flagged,
            "within_target": not flagged and overhead <= TARGET_PERCENT,
        }
    return summary


def print_summary(summary: dict[str, Any]) -> None:
    if not summary:
        print("\nno whole on/off pair was measured: nothing to compare")
        return
    print(f"\n{'':<16} {'on (median)':>12} {'off (median)':>13} {'overhead':>9}  pairs (range)")
    for key, cell in summary.items():
        pairs = cell["pair_overheads_percent"]
        flagged = cell["flags"]
        note = f"  flagged: {'; '.join(FLAG_TEXT[f] for f in flagged)}" if flagged else ""
        print(f"{key:<16} {cell['on_median']:12.1f} {cell['off_median']:13.1f} "
              f"{cell['overhead_percent']:8.1f}%  ({min(pairs):.1f}% to {max(pairs):.1f}%)"
              f"{note}")  # fmt: skip
    missed = [key for key, cell in summary.items() if not cell["within_target"]]
    print(f"\ntarget: at most {TARGET_PERCENT:.0f}% (median of the pairs, no flagged run): "
          + (f"NOT met for {', '.join(missed)}" if missed else "met in every cell"))  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of unmeasured load")
    parser.add_argument("--repeats", type=int, default=8,
                        help="on/off pairs per cell (even: co-run sides swap)")  # fmt: skip
    parser.add_argument("--users", type=int, default=32,
                        help="Locust users, or wrk connections")  # fmt: skip
    parser.add_argument("--design", choices=("corun", "sequential"), default="corun",
                        help="corun: both sides at once on the service CPU (the default); "
                        "sequential: one after the other, alternating")  # fmt: skip
    parser.add_argument("--generator", choices=("wrk", "locust"), default="wrk",
                        help="locust needs --design sequential")  # fmt: skip
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS),
                        choices=sorted(BENCH_SCENARIOS), metavar="SCENARIO",
                        help="bench scenarios (asynclab/bench/scenarios.py)")  # fmt: skip
    parser.add_argument("--frameworks", nargs="+", default=list(SERVICES), choices=SERVICES)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "metrics_overhead.json")
    args = parser.parse_args()
    if args.design == "corun" and args.generator != "wrk":
        parser.error("--design corun needs --generator wrk: one Locust core cannot load two "
                     "services at once (use --design sequential for Locust)")  # fmt: skip

    runs: dict[str, dict[str, list[Measured]]] = {}
    plan: dict[str, Any] = {}
    interrupted = False
    failure: str | None = None
    with stop_signals_interrupt(), tempfile.TemporaryDirectory(prefix="asynclab-overhead-") as tmp:
        base = Path(tmp)
        os.chmod(base, 0o755)  # Postgres runs as nobody and must enter the state dir
        try:
            with running_lab(base / "lab") as lab:
                plan = {**cpu_plan(lab.settings), **generator_plan(lab.settings).to_json()}
                print(f"CPU plan: {describe_cpu_plan(plan)}.")
                for repeat in range(args.repeats):
                    for scenario in args.scenarios:
                        for framework in args.frameworks:
                            key = f"{framework} {scenario}"
                            pair = measure_pair(lab, framework, scenario, args, base, repeat)
                            for mode in MODES:
                                runs.setdefault(key, {"on": [], "off": []})[mode].append(pair[mode])
                                report_run(key, mode, repeat, pair[mode])
        except KeyboardInterrupt:
            interrupted = True
            print("\ninterrupted: the lab is stopped; the pairs finished so far are kept")
        except (InvalidRun, LabError, httpx.HTTPError) as exc:
            failure = str(exc)
            print(f"\nstopped: {failure}; the lab is stopped; the pairs finished so far are kept")

    summary = summarise(runs)
    print_summary(summary)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    settings = {"design": args.design, "generator": args.generator, "scenarios": args.scenarios,
                "frameworks": args.frameworks, "users": args.users,
                "warmup_s": args.warmup, "duration_s": args.duration, "repeats": args.repeats,
                "target_percent": TARGET_PERCENT}  # fmt: skip
    document = {"settings": settings, "cpu_plan": plan, "interrupted": interrupted,
                "failure": failure, "results": summary}  # fmt: skip
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwritten to {args.out}")
    return 130 if interrupted else 1 if failure else 0


def report_run(key: str, mode: str, repeat: int, run: Measured) -> None:
    gen = "-" if run.generator_cpu is None else f"{run.generator_cpu:.0%}"
    print(f"{key:<16} metrics {mode:<3} run {repeat + 1}: {run.rps:9.1f} req/s, "
          f"generator CPU {gen:>4} {' '.join(run.flags)}", flush=True)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
