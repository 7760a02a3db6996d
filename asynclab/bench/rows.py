"""One ``summary.json`` row per run: the measured figures, the ceiling that explains them, and
the flags that say when not to trust them.

``rps`` counts every answer, failures included (as Locust does); ``ok_rps`` only successful
ones, and it is what verdicts, ceiling shares and targets use. ``infra_cpu`` is what Postgres
and the upstream (unpinned) used during the window, in cores; ``service_cores`` what the
service could use (``ceilings.usable_cores``). ``service_rss_mib`` is the resident memory of
the service's whole process tree (master, workers, nginx in front), shared pages counted once
(``sampler.tree_resident_bytes``): the mean of the samples taken during the window, and
``service_rss_mib_max`` the highest; null where the service's processes are not on this machine
(compose mode, an external target). ``target_url`` is the base URL the generator loaded and
``target_label`` the framework there: a lab variant's service, or an external target's label
(``external``; ``variant`` is then null, see ``external.py``).
"""

from __future__ import annotations

from typing import Any

from asynclab.bench import external
from asynclab.bench.ceilings import (
    Ceiling,
    binding,
    cpu_ceiling,
    no_ceiling_reason,
    slot_ceiling,
    usable_cores,
)
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
    "generator_bound": "above 80% of the generator's ceiling (calibrated on /plaintext, or "
    "this run's own: generator CPUs ÷ its CPU time per request)",
    "no_requests": "no request completed",
    "locust_exit": "Locust exited with an error",
    "not_drained": "a service was still busy with an earlier run when this one started",
    "short_warmup": "median latency above the warm-up: the queue may not have settled",
    # The open-loop lesson's (asynclab.bench.open_loop).
    "short_of_target": "achieved more than 2% below the target arrival rate",
    "generator_late": "the generator's own lag above 10% of the latency p99",
    "generator_cap": "the generator reached its cap of requests in flight",
    "slower_than_target": "below the open loop's target rate by more than 2%: not a "
    "comparable rate",
}


def run_generator_ceiling(rps: float | None, generator_cpu: float | None) -> float | None:
    """The generator's ceiling on this run's route: its CPUs ÷ its CPU time per request.

    ``generator_cpu`` is the share of its CPU budget, so that is ``rps / generator_cpu``:
    ``run_generator_ceiling(3000, 0.5) == 6000``. A heavier response costs the generator more
    per request than the calibration's ``/plaintext``, so this one is the lower where it counts.
    """
    if not rps or not generator_cpu or generator_cpu <= 0:
        return None
    return rps / generator_cpu


def flags(row: dict[str, Any], generator_ceiling: float | None) -> list[str]:
    """Why a row may not measure the service: ``flags({"rps": 900, ...}, 1000)``."""
    found = []
    if (row.get("generator_cpu") or 0) > GENERATOR_CPU_LIMIT:
        found.append("generator_cpu")
    if (row.get("error_rate") or 0) > ERROR_LIMIT:
        found.append("errors")
    known = [c for c in (generator_ceiling, row.get("generator_ceiling_rps")) if c]
    if known and (row.get("rps") or 0) > GENERATOR_BOUND * min(known):
        found.append("generator_bound")
    if not row.get("requests"):
        found.append("no_requests")
    if row.get("exit_code"):
        found.append("locust_exit")
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
    target_url: str | None = None,
) -> dict[str, Any]:
    scenario = get_scenario(run.scenario)
    requests = result.requests
    cpu_per_request = (
        result.service_cpu_s / requests if result.service_cpu_s is not None and requests else None
    )
    slots: Ceiling | None
    cpu: Ceiling | None
    if run.external:
        # Its budget is unknown: no variant, no slots, no cores (asynclab/bench/external.py).
        variant_name, framework, slots, cpu, cores = None, run.variant, None, None, None
        ceiling = external.ceiling(scenario, run.users)
        no_ceiling = None if ceiling else external.no_ceiling_reason(scenario)
    else:
        variant = get_variant(run.variant)
        variant_name, framework = variant.name, variant.framework
        slots = slot_ceiling(scenario, variant, settings, run.users)
        cpu = cpu_ceiling(scenario, variant, settings, cpu_per_request, service_cpus)
        ceiling = binding(slots, cpu)
        no_ceiling = no_ceiling_reason(scenario)
        cores = usable_cores(scenario, variant, settings, service_cpus)
    if isinstance(result, LoadResult):
        p95, failures, exit_code = result.p95_ms, result.failures, result.returncode
        infra, kinds = dict(result.infra_cpu), result.failure_kinds
    else:
        p95, failures, exit_code, infra, kinds = None, result.errors, None, {}, None
    # wrk's socket errors are not among its requests: never count below zero.
    ok_rps = max(0, requests - failures) / result.window_s if result.window_s else 0.0
    row: dict[str, Any] = {
        "scenario": run.scenario,
        "variant": variant_name,
        "framework": framework,
        "users": run.users,
        "repetition": run.repetition,
        "tool": run.tool,
        "route": scenario.path,
        "target_url": target_url,
        "target_label": framework,
        "external": run.external,
        "rps": _round(result.rps),
        "ok_rps": _round(ok_rps),
        "requests": requests,
        "failures": failures,
        "p50_ms": _round(result.p50_ms),
        "p95_ms": _round(p95),
        "p99_ms": _round(result.p99_ms),
        "error_rate": _round(result.error_rate, 5),
        # Refused, reset, timed out, error statuses... (asynclab.bench.failures); null: unknown.
        "failure_kinds": kinds,
        "ceiling_rps": _round(ceiling.rps, 1) if ceiling else None,
        "ceiling_kind": ceiling.kind if ceiling else None,
        "ceiling_note": ceiling.note if ceiling else no_ceiling,
        "slot_ceiling_rps": _round(slots.rps, 1) if slots else None,
        "cpu_ceiling_rps": _round(cpu.rps, 1) if cpu else None,
        "service_cpu_ms_per_request": _round(cpu_per_request * 1000, 3)
        if cpu_per_request
        else None,
        # The cores it can keep busy: with the CPU per request, how close it ran to them.
        "service_cores": cores,
        # How busy its CPUs were with anything, itself included: other work may take them.
        "service_cpus_busy": _round(result.service_cpus_busy, 3),
        "generator_cpu": _round(result.generator_cpu, 3),
        "generator_ceiling_rps": _round(run_generator_ceiling(result.rps, result.generator_cpu), 1),
        "service_rss_mib": _round(result.service_rss_mib, 1),
        "service_rss_mib_max": _round(result.service_rss_mib_max, 1),
        "infra_cpu": _round(sum(infra.values()), 3) if infra else None,
        "infra_cpu_by": {name: _round(cores, 3) for name, cores in infra.items()} or None,
        "exit_code": exit_code,
        "window_s": _round(result.window_s),
        "run_dir": run_dir,
    }
    row["flags"] = flags(row, generator_ceiling)
    return row
