"""The throughput a configuration cannot exceed, and why.

Little's law: throughput <= requests held at once / time each is held. A request to
``/io/db?ms=50`` holds a pooled connection for 50 ms, so ``flask-sync`` (3 workers of one
connection each) stays under 3 / 0.05 s = 60 rps, whatever the number of users. That is a
prediction from the configuration alone.

CPU-bound work has no such prediction here: its bound is the service's cores divided by the
CPU time of one request, measured on the service's processes during the same run. That is the
*measured CPU capacity*: it says how close the service was to using its cores (its share is
about the service's CPU utilisation), not what the configuration allows before the run.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from asynclab.bench.scenarios import Scenario
from asynclab.settings import LabSettings
from asynclab.variants import TIMES, Variant
from asynclab.variants import plural as _plural


@dataclass(frozen=True)
class Ceiling:
    rps: float
    # "users": an external target's, whose slots are unknown (asynclab/bench/external.py)
    kind: Literal["slots", "cpu", "users"]
    note: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _pool(variant: Variant, s: LabSettings, per: int, unit: str) -> str:
    """``"3 workers x 1 connection"`` or ``"1 process x 16 connections"`` (with a times sign)."""
    return f"{_plural(variant.processes(s), variant.holder())} {TIMES} {_plural(per, unit)}"


def held_slots(scenario: Scenario, variant: Variant, s: LabSettings) -> tuple[float, float, str]:
    """(slots, seconds each request holds one, description) for a waiting scenario."""
    wait_s = scenario.wait_ms / 1000
    if scenario.bound == "db":
        per = variant.db_pool_per_process(s)
        return variant.db_slots(s), wait_s, _pool(variant, s, per, "connection")
    if scenario.bound == "upstream":
        per = variant.http_pool_per_process(s)
        return variant.upstream_slots(s), wait_s, _pool(variant, s, per, "connection")
    if scenario.bound == "blocking":
        slots = variant.blocking_slots(s)
        if variant.handlers == "async":
            return variant.processes(s), wait_s, _plural(variant.processes(s), "event loop")
        if slots is None:  # a sleeping goroutine holds no thread: only the users bound it
            return math.inf, wait_s, "unbounded (a goroutine per request)"
        return slots, wait_s, variant.request_slots_text(s)
    if scenario.bound == "sleep":
        # Nothing behind the wait: a request holds its server slot and nothing else.
        slots = variant.request_slots(s)
        if slots is None:
            holder = "goroutine" if variant.handlers == "goroutine" else "timer on the event loop"
            return math.inf, wait_s, f"unbounded: a {holder} per request"
        return slots, wait_s, variant.request_slots_text(s)
    if scenario.bound == "fanout":
        requests, text = variant.request_slots(s), variant.request_slots_text(s)
        upstream = variant.upstream_slots(s)
        if variant.concurrent_calls:
            # Concurrent calls: a request needs `calls` connections for one wait, so the pool
            # serves upstream / calls requests at once (a fraction is real: connections are
            # taken one by one, so partial requests keep the pool busy).
            by_pool = upstream / scenario.calls
            if requests is None or by_pool < requests:
                text = f"{upstream} connections ÷ {scenario.calls} calls"
                return by_pool, wait_s, text
            return requests, wait_s, text
        # Sequential calls: one connection, held for calls x wait.
        slots = min(upstream, requests or upstream)
        return slots, scenario.calls * wait_s, text
    raise ValueError(f"scenario {scenario.name} has no waiting slots")


def slot_ceiling(
    scenario: Scenario, variant: Variant, s: LabSettings, users: int
) -> Ceiling | None:
    """Little's law: min(users, slots) / hold time.

    For io_db, flask-sync and 64 users the note reads
    ``3 workers x 1 connection ÷ 0.05 s = 60 rps``, and with 2 users
    ``2 users (of 3 slots) ÷ 0.05 s = 40 rps``.
    """
    if scenario.bound not in ("db", "upstream", "blocking", "fanout", "sleep"):
        return None
    if scenario.wait_ms <= 0:
        return None
    slots, hold_s, text = held_slots(scenario, variant, s)
    held = min(users, slots)
    rps = held / hold_s
    if math.isinf(slots):
        who = f"{_plural(users, 'user')} ({text})"
    else:
        who = f"{_plural(users, 'user')} (of {slots:g} slots)" if users < slots else text
    return Ceiling(rps, "slots", f"{who} ÷ {hold_s:g} s = {rps:,.0f} rps")


def usable_cores(scenario: Scenario, variant: Variant, s: LabSettings, service_cpus: int) -> int:
    """Cores the service can keep busy: one per process for GIL-holding Python.

    PBKDF2 releases the GIL, so OS threads (gthread workers, granian's blocking threads,
    FastAPI's ``def`` pool) run it in parallel; gevent's greenlets share one OS thread per
    worker and gain nothing from it.
    """
    # Go runs goroutines on GOMAXPROCS threads, whatever they wait for.
    parallel = variant.go_threads(s) if variant.server == "go" else variant.processes(s)
    threads = variant.handler_threads(s)
    if scenario.name == "cpu_native" and threads is not None:
        parallel *= threads
    return max(1, min(service_cpus, parallel))


def cpu_ceiling(
    scenario: Scenario,
    variant: Variant,
    s: LabSettings,
    cpu_s_per_request: float | None,
    service_cpus: int,
) -> Ceiling | None:
    """Measured CPU capacity: cores ÷ CPU seconds per request, both from the same run.

    None for round trips to Postgres (``bound="postgres"``): there the service waits on an
    unpinned database, and a figure from its own CPU would be a ceiling it never nears.
    """
    if not cpu_s_per_request or cpu_s_per_request <= 0 or scenario.bound in ("none", "postgres"):
        return None
    cores = usable_cores(scenario, variant, s, service_cpus)
    rps = cores / cpu_s_per_request
    return Ceiling(
        rps,
        "cpu",
        f"measured CPU capacity: {_plural(cores, 'core')} ÷ {cpu_s_per_request * 1000:.2f} ms"
        f" CPU per request = {rps:,.0f} rps",
    )


def no_ceiling_reason(scenario: Scenario) -> str | None:
    """Why a scenario has neither a Little's-law ceiling nor a CPU capacity, for the report."""
    if scenario.bound == "postgres":
        return (
            "none: each request holds a pooled connection for Postgres round trips of "
            "unmeasured length (Postgres is unpinned), so neither slots ÷ time nor the "
            "service's CPU bounds it"
        )
    if scenario.bound == "none":
        return "none: a mix of routes with different bounds"
    return None


def binding(*ceilings: Ceiling | None) -> Ceiling | None:
    """The lowest ceiling is the one that explains the throughput."""
    known = [c for c in ceilings if c is not None]
    return min(known, key=lambda c: c.rps) if known else None
