"""One ``summary.json`` row per run: the measured figures, the ceiling that explains them, and
the flags that say when not to trust them."""

from __future__ import annotations

from typing import Any

from asynclab.bench.ceilings import binding, cpu_ceiling, slot_ceiling
from asynclab.bench.locust_run import LoadResult
from asynclab.bench.profiles import Run
from asynclab.bench.scenarios import get_scenario
from asynclab.bench.wrk import WrkResult
from asynclab.settings import LabSettings
from asynclab.variants import get_variant

GENERATOR_CPU_LIMIT = 0.90
ERROR_LIMIT = 0.01
GENERATOR_BOUND = 0.80

FLAG_TEXT = {
    "generator_cpu": "generator above 90% CPU",
    "errors": "errors above 1%",
    "generator_bound": "above 80% of the calibrated generator ceiling",
    "no_requests": "no request completed",
}


def flags(row: dict[str, Any], generator_ceiling: float | None) -> list[str]:
    """Why a row may not measure the service: ``flags({"rps": 900, ...}, 1000)``."""
    found = []
    if (row.get("generator_cpu") or 0) > GENERATOR_CPU_LIMIT:
        found.append("generator_cpu")
    if (row.get("error_rate") or 0) > ERROR_LIMIT:
        found.append("errors")
    if generator_ceiling and (row.get("rps") or 0) > GENERATOR_BOUND * generator_ceiling:
        found.append("generator_bound")
    if not row.get("requests"):
        found.append("no_requests")
    return found


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def build_row(
    run: Run,
    result: LoadResult | WrkResult,
    settings: LabSettings,
    service_cpus: int,
    generator_ceiling: float | None,
    run_dir: str,
) -> dict[str, Any]:
    scenario = get_scenario(run.scenario)
    variant = get_variant(run.variant)
    requests = result.requests
    cpu_per_request = (
        result.service_cpu_s / requests if result.service_cpu_s is not None and requests else None
    )
    slots = slot_ceiling(scenario, variant, settings, run.users)
    cpu = cpu_ceiling(scenario, variant, settings, cpu_per_request, service_cpus)
    ceiling = binding(slots, cpu)
    p95 = result.p95_ms if isinstance(result, LoadResult) else None
    row: dict[str, Any] = {
        "scenario": run.scenario,
        "variant": run.variant,
        "framework": variant.framework,
        "users": run.users,
        "repetition": run.repetition,
        "tool": run.tool,
        "route": scenario.path,
        "rps": _round(result.rps),
        "requests": requests,
        "failures": result.failures if isinstance(result, LoadResult) else result.errors,
        "p50_ms": _round(result.p50_ms),
        "p95_ms": _round(p95),
        "p99_ms": _round(result.p99_ms),
        "error_rate": _round(result.error_rate, 5),
        "ceiling_rps": _round(ceiling.rps, 1) if ceiling else None,
        "ceiling_kind": ceiling.kind if ceiling else None,
        "ceiling_note": ceiling.note if ceiling else None,
        "slot_ceiling_rps": _round(slots.rps, 1) if slots else None,
        "cpu_ceiling_rps": _round(cpu.rps, 1) if cpu else None,
        "service_cpu_ms_per_request": _round(cpu_per_request * 1000, 3)
        if cpu_per_request
        else None,
        "generator_cpu": _round(result.generator_cpu, 3),
        "window_s": _round(result.window_s),
        "run_dir": run_dir,
    }
    row["flags"] = flags(row, generator_ceiling)
    return row
