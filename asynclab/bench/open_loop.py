"""Open-loop runs: /io/db?ms=50 offered at a fixed arrival rate, and the closed loop beside it.

Locust users are a closed loop: a slow answer delays its user's next request, so a slow service
slows the offered load and the requests that would have queued are never sent (coordinated
omission). Its p99 is then a lower bound of what users arriving on their own would see.

How the open loop is made, and why not with Locust. ``constant_throughput(r)`` paces each
Locust user, but each user is still a closed loop: a request slower than the pacing sends the
next one late, and Locust times a request from its actual send, so that lateness is lost. An
open loop out of it needs users far above rate x worst latency (thousands of greenlets on
one generator core at 570 rps and a second-long tail), and would still time from the actual
send. So the lesson has a generator of its own (``asynclab.bench.open_gen``, asyncio and
aiohttp, pinned to the generator CPUs like Locust): requests start on a schedule of intended
times fixed before the run, and each latency counts from its intended time, wrk2's rule. The
schedule's arrivals are Poisson (independent users) with exactly target x window of them in
the window: evenly spaced arrivals, wrk2's plan, would hide the queueing that random arrivals
cause near a ceiling, which is what the lesson is about.

Each level is offered at 50%, 80% and 95% of the variant's Little's-law ceiling (db slots ÷
0.05 s, ``ceilings.slot_ceiling``). The closed loop it is compared with is the same generator
with ``closed_users`` users (latency from the actual send, as Locust's): the fewest that run at
least as fast as the target when each request holds its slot 25% longer than the wait.

Figures of a run:

- ``target_rps``; ``achieved`` (``ok_rps``): right answers that came back inside the window ÷
  the window; ``sent_rps``: requests the generator started inside it. A run whose achieved rate
  falls more than 2% short of the target is flagged (``short_of_target``), never judged: the
  service (or the generator) could not hold the load, and its latencies belong to a queue that
  was still growing;
- p50, p99, p99.9 and the maximum over every request intended inside the window, errors and
  timeouts included (a user waited that long too), nearest-rank. p99.9 only from 1,000
  requests on: below that it would be the maximum or close to it. The windows stretch to
  3,000 requests at least (three beyond the p99.9), 120 s at most;
- the closed loop is flagged ``slower_than_target`` when it ran more than 2% below the open
  loop's target: its p99 is then not one at a comparable rate;
- ``lag_p99_ms``: how late the generator itself started its requests. It is part of every
  latency; a run whose lag p99 exceeds 10% of its latency p99 is flagged ``generator_late``,
  as one whose generator ran above 90% of its CPU (``generator_cpu``) or that reached the
  in-flight cap (``generator_cap``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asynclab.bench.ceilings import slot_ceiling
from asynclab.bench.open_gen import TIMEOUT_S
from asynclab.bench.profiles import Run
from asynclab.bench.rows import ERROR_LIMIT, GENERATOR_CPU_LIMIT
from asynclab.bench.sampler import CpuSampler
from asynclab.bench.scenarios import get_scenario
from asynclab.settings import LabSettings
from asynclab.variants import get_variant

SCENARIO = "io_db"
# A run more than 2% short of its target rate did not hold the load: flagged, not judged.
SHORTFALL = 0.02
# The closed loop's users: enough to run as fast as the target if each request holds its slot
# this much longer than the wait (the service's own time: 4% on a quiet machine here, 17% on
# one whose load average was 12). Users beyond the slots only queue: the closed loop then runs
# at its ceiling, faster than the target, which makes the comparison conservative.
HOLD_MARGIN = 0.25
# p99.9 needs this many requests (below it, it is the maximum or close); windows stretch to
# WINDOW_REQUESTS, at most MAX_WINDOW_S.
P999_MIN = 1000
WINDOW_REQUESTS = 3000
MAX_WINDOW_S = 120.0
# The generator's own lateness may be this share of the latency p99 at most.
LATE_SHARE = 0.10


def target_rps(ceiling_rps: float, load: int) -> float:
    """``target_rps(600, 95) == 570.0``: ``load`` percent of the ceiling."""
    return ceiling_rps * load / 100


def closed_users(target: float, hold_s: float) -> int:
    """``closed_users(570, 0.05) == 36``: the fewest users that run at least ``target`` rps
    when each request holds its slot 25% longer than ``hold_s``."""
    return max(1, math.ceil(target * hold_s * (1 + HOLD_MARGIN) - 1e-9))


def window_s(rate: float, duration_s: float, requests: int = WINDOW_REQUESTS) -> float:
    """The measured window: ``duration_s``, stretched to ``requests`` at ``rate``, at most
    ``MAX_WINDOW_S`` (``window_s(30, 15) == 100.0``, ``window_s(570, 15) == 15``)."""
    return max(duration_s, min(requests / rate, MAX_WINDOW_S))


@dataclass(frozen=True)
class LoadPlan:
    """What an open-loop level offers a variant, and the closed loop compared with it."""

    variant: str
    load: int  # percent of the ceiling
    ceiling_rps: float
    ceiling_note: str
    hold_s: float
    target_rps: float
    users: int  # the closed loop's
    window_s: float


def plan_for(run: Run, settings: LabSettings, duration_s: float,
             requests: int = WINDOW_REQUESTS) -> LoadPlan:  # fmt: skip
    """The level of ``run`` (``run.users`` is its load in percent) against its variant."""
    scenario, variant = get_scenario(run.scenario), get_variant(run.variant)
    ceiling = slot_ceiling(scenario, variant, settings, 10**9)
    if ceiling is None:
        raise ValueError(f"{run.scenario} has no Little's-law ceiling: no load to offer")
    target = target_rps(ceiling.rps, run.users)
    hold_s = scenario.wait_ms / 1000
    users = closed_users(target, hold_s)
    window = window_s(target, duration_s, requests)
    return LoadPlan(
        run.variant, run.users, ceiling.rps, ceiling.note, hold_s, target, users, window
    )


@dataclass(frozen=True)
class OpenSpec:
    """One run of the generator: where, how, and what to sample beside it."""

    url: str  # the route, with its query
    expect: Any  # the JSON body of every right answer
    tool: str  # "open" or "closed"
    plan: LoadPlan
    warmup_s: float
    out_dir: Path
    seed: int = 1
    taskset: tuple[str, ...] = ()
    generator_cpus: int = 1
    service_pid: int | None = None
    infra_pids: tuple[tuple[str, int], ...] = ()
    service_cpus: tuple[int, ...] = ()
    timeout_s: float = TIMEOUT_S


@dataclass(frozen=True)
class OpenResult:
    raw: dict[str, Any]  # what open_gen wrote
    generator_cpu: float | None
    service_cpu_s: float | None
    service_cpus_busy: float | None
    infra_cpu: tuple[tuple[str, float], ...]


def command(spec: OpenSpec, out_file: Path, python: str = sys.executable) -> list[str]:
    plan = spec.plan
    loop = ["--rate", f"{plan.target_rps:g}"] if spec.tool == "open" else [
        "--users", str(plan.users)]  # fmt: skip
    return [
        *spec.taskset, python, "-m", "asynclab.bench.open_gen", "--url", spec.url, *loop,
        "--expect", json.dumps(spec.expect), "--warmup", f"{spec.warmup_s:g}",
        "--duration", f"{plan.window_s:g}", "--seed", str(spec.seed),
        "--timeout", f"{spec.timeout_s:g}", "--out", str(out_file),
    ]  # fmt: skip


def measure(spec: OpenSpec) -> OpenResult:
    """Run the generator to its end, sampling CPU beside it; Ctrl-C stops it, then propagates."""
    spec.out_dir.mkdir(parents=True, exist_ok=True)
    out_file = spec.out_dir / "open_gen.json"
    out_file.unlink(missing_ok=True)  # a figure from an earlier run must never pass for this one
    cmd = command(spec, out_file)
    (spec.out_dir / "command.txt").write_text(" ".join(cmd) + "\n")
    # The run's own bound: warm-up, window, the window's slowest request, and a margin.
    bound = spec.warmup_s + spec.plan.window_s + spec.timeout_s + 60
    with (spec.out_dir / "stdout.txt").open("wb") as output:
        proc = subprocess.Popen(cmd, stdout=output, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        pids = {**dict(spec.infra_pids), "generator": proc.pid}
        if spec.service_pid:
            pids["service"] = spec.service_pid
        try:
            with CpuSampler(pids, cpus=spec.service_cpus) as sampler:
                code = proc.wait(timeout=bound)
        finally:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    if code != 0 or not out_file.exists():
        tail = (spec.out_dir / "stdout.txt").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"the open-loop generator failed (exit {code}):\n{tail}")
    raw: dict[str, Any] = json.loads(out_file.read_text())
    start, end = raw["window"]
    gen = sampler.usage("generator", start, end)
    svc = sampler.usage("service", start, end)
    infra = tuple((name, round(cores, 4)) for name, _ in spec.infra_pids
                  if (cores := sampler.cores(name, start, end)) is not None)  # fmt: skip
    return OpenResult(
        raw=raw,
        generator_cpu=gen[0] / gen[1] / spec.generator_cpus if gen else None,
        service_cpu_s=svc[0] / svc[1] * (end - start) if svc else None,
        service_cpus_busy=sampler.cpus_busy(start, end),
        infra_cpu=infra,
    )


def nearest_rank(ordered: list[float], fraction: float) -> float | None:
    """The smallest value that at least ``fraction`` of ``ordered`` (sorted) do not exceed:
    ``nearest_rank([10, 20, 30, 40], 0.5) == 20``; None when there is none."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(fraction * len(ordered) - 1e-9) - 1)]


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def figures(raw: dict[str, Any]) -> dict[str, Any]:
    """Rates and percentiles of a generator's output, as a summary row has them."""
    measured = raw["measured"]
    latencies = sorted(measured["latency_ms"])
    n = len(latencies)
    failures = n - sum(measured["ok"])
    window = raw["window"][1] - raw["window"][0]
    lag = sorted(measured["lag_ms"])
    return {
        "requests": n,
        "failures": failures,
        "error_rate": _round(failures / n if n else 1.0, 5),
        "rps": _round(raw["done_in_window"] / window),
        "ok_rps": _round(raw["ok_in_window"] / window),
        "sent_rps": _round(raw["sent_in_window"] / window),
        "p50_ms": _round(nearest_rank(latencies, 0.50)),
        "p99_ms": _round(nearest_rank(latencies, 0.99)),
        "p999_ms": _round(nearest_rank(latencies, 0.999)) if n >= P999_MIN else None,
        "max_ms": _round(latencies[-1] if latencies else None),
        "lag_p99_ms": _round(nearest_rank(lag, 0.99)),
        "errors_by_kind": raw.get("errors") or {},
        "capped": raw.get("capped", 0),
        "most_in_flight": raw.get("most_in_flight"),
        "window_s": _round(window),
    }


def flags(row: dict[str, Any]) -> list[str]:
    """Why a row may not measure the service at its load (their words: rows.FLAG_TEXT)."""
    found = []
    if (row.get("generator_cpu") or 0) > GENERATOR_CPU_LIMIT:
        found.append("generator_cpu")
    if (row.get("error_rate") or 0) > ERROR_LIMIT:
        found.append("errors")
    if not row.get("requests"):
        found.append("no_requests")
    if row["tool"] == "open":
        if (row.get("ok_rps") or 0) < (1 - SHORTFALL) * row["target_rps"]:
            found.append("short_of_target")
        lag, p99 = row.get("lag_p99_ms"), row.get("p99_ms")
        if lag is not None and p99 and lag > LATE_SHARE * p99:
            found.append("generator_late")
        if row.get("capped"):
            found.append("generator_cap")
    elif (row.get("ok_rps") or 0) < (1 - SHORTFALL) * row["target_rps"]:
        found.append("slower_than_target")
    return found


def build_row(
    run: Run, result: OpenResult, plan: LoadPlan, settings: LabSettings, run_dir: str
) -> dict[str, Any]:
    """A summary row: ``users`` is the load in percent, as the run's key has it."""
    scenario, variant = get_scenario(run.scenario), get_variant(run.variant)
    found = figures(result.raw)
    if run.tool == "open":
        ceiling_rps, note = plan.ceiling_rps, plan.ceiling_note
    else:
        closed = slot_ceiling(scenario, variant, settings, plan.users)
        assert closed is not None  # plan_for found the scenario's ceiling
        ceiling_rps, note = closed.rps, closed.note
    requests = found["requests"]
    cpu_ms = (result.service_cpu_s / requests * 1000
              if result.service_cpu_s is not None and requests else None)  # fmt: skip
    infra = dict(result.infra_cpu)
    row: dict[str, Any] = {
        "scenario": run.scenario, "variant": run.variant, "framework": variant.framework,
        "users": run.users, "load": run.users / 100, "repetition": run.repetition,
        "tool": run.tool, "route": scenario.path,
        "target_rps": _round(plan.target_rps), "closed_users": plan.users if run.tool == "closed"
        else None, "arrivals": result.raw.get("arrivals"), "seed": result.raw.get("seed"),
        **found,
        "ceiling_rps": _round(ceiling_rps, 1), "ceiling_kind": "slots", "ceiling_note": note,
        "slot_ceiling_rps": _round(ceiling_rps, 1),
        "service_cpu_ms_per_request": _round(cpu_ms, 3),
        "service_cpus_busy": _round(result.service_cpus_busy, 3),
        "generator_cpu": _round(result.generator_cpu, 3),
        "infra_cpu": _round(sum(infra.values()), 3) if infra else None,
        "infra_cpu_by": {name: _round(cores, 3) for name, cores in infra.items()} or None,
        "exit_code": 0, "run_dir": run_dir,
    }  # fmt: skip
    row["flags"] = flags(row)
    return row
