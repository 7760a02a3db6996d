"""The generator's own ceiling, measured with the generator's CPU budget.

On the cheapest route (``/plaintext``) of the fastest running variant, Locust and ``wrk`` each
run flat out. Each one's CPU cost per request, from its measured CPU time, gives its ceiling:
generator CPUs ÷ CPU seconds per request. When the service saturates first, this extrapolation
is still the generator's own limit, which is what the generator-bound flag needs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from asynclab.bench import wrk
from asynclab.bench.generator import GeneratorPlan
from asynclab.bench.locust_run import Generator, LoadSpec, run_locust
from asynclab.bench.scenarios import SCENARIOS

ROUTE = "/plaintext"
USERS = 32


def _figures(
    requests: int, rps: float, cpu: float | None, cpu_s: float | None, cpus: int
) -> dict[str, Any]:
    cost = cpu_s / requests if cpu_s and requests else None
    return {
        "rps": round(rps, 1),
        "requests": requests,
        "generator_cpu": round(cpu, 3) if cpu is not None else None,
        "cpu_ms_per_request": round(cost * 1000, 4) if cost else None,
        "ceiling_rps": round(cpus / cost, 1) if cost else None,
        "saturated": bool(cpu is not None and cpu > 0.9),
    }


def calibrate(
    targets: dict[str, tuple[str, int | None]],
    plan: GeneratorPlan,
    out_dir: Path,
    cwd: Path,
    warmup_s: float = 1.0,
    duration_s: float = 4.0,
    echo: Callable[[str], None] = print,
    env: tuple[tuple[str, str], ...] = (),
    generator: Generator | None = None,
) -> dict[str, Any]:
    """``targets`` maps a variant name to (base URL, service pid). With ``generator`` (compose
    mode) Locust runs there, and wrk, which would run on this machine, is left out."""
    result: dict[str, Any] = {"route": ROUTE, "users": USERS, "probe": {}}
    use_wrk = generator is None and wrk.available()
    if use_wrk:
        for name, (url, _pid) in targets.items():
            probe = wrk.run_wrk(
                url + ROUTE, USERS, 1, 0, out_dir / f"probe-{name}.txt", plan.taskset, plan.cpus
            )
            result["probe"][name] = round(probe.rps, 1)
        fastest = max(result["probe"], key=result["probe"].get)
    else:
        fastest = next(iter(targets))
    url, pid = targets[fastest]
    result["variant"] = fastest
    echo(f"calibrating the generator on {fastest} {ROUTE} ({USERS} users)")
    load = run_locust(
        LoadSpec(SCENARIOS["plaintext"], url, USERS, warmup_s, duration_s, out_dir / "locust",
                 plan.taskset, plan.locust_processes, pid, env),
        cwd, plan.cpus, generator,
    )  # fmt: skip
    result["locust"] = _figures(
        load.requests, load.rps, load.generator_cpu, load.generator_cpu_s, plan.cpus
    )
    if use_wrk:
        w = wrk.run_wrk(url + ROUTE, USERS, duration_s, warmup_s, out_dir / "wrk.txt",
                        plan.taskset, plan.cpus, pid, plan.cpus)  # fmt: skip
        result["wrk"] = _figures(w.requests, w.rps, w.generator_cpu, w.generator_cpu_s, plan.cpus)
    else:
        result["wrk"] = None
    result["generator_ceiling_rps"] = result["locust"]["ceiling_rps"]
    return result
