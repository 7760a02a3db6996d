"""What the bench can know of an external target (``--target LABEL=URL``), and what it cannot.

The lab did not start it: it knows the URL, the label, what the service answered just before
the load (``asynclab/target_check.py``) and what the generator measured. Nothing of how the
service is deployed, and the rest is said plainly rather than guessed:

- no variant: ``variant`` is null in its rows and ``framework`` is its label; no lesson judges
  it, since each compares two of the lab's variants whose budgets (workers, pools) it knows;
- no CPU plan, pinning or sampling of the service: its CPU per request, how busy its CPUs were,
  its resident memory and what Postgres and the upstream used are null, so there is no measured
  CPU capacity (nor rps per core or per GiB);
- a Little's-law ceiling only where the route's own wait is known, and then only the users'
  bound: a closed loop of 8 users on ``/io/db?ms=50`` cannot exceed 8 ÷ 0.05 s = 160 rps,
  whatever the service's slots. ``/fanout``'s wait depends on whether the service makes its
  calls at once or one after the other, which the lab cannot see.
"""

from __future__ import annotations

from typing import Any

from asynclab.bench.ceilings import Ceiling
from asynclab.bench.ceilings import no_ceiling_reason as lab_reason
from asynclab.bench.scenarios import Scenario
from asynclab.variants import plural

CPU_NOT_MEASURED = "external target: service CPU not measured"
NO_LAB = "external targets only: no service of the lab was started or loaded"
# What a reader of an external target's figures must know, in the manifest and the report.
NOTES = (
    "no variant: its server, workers and pools are unknown, and no lesson judges it",
    "no CPU plan: the lab neither pins it nor samples its processes, so its CPU per request, "
    f"its CPUs' load and its resident memory are null ({CPU_NOT_MEASURED})",
    "ceilings: only the users' bound where the route's own wait is known (users ÷ wait on "
    "/io/db, /io/upstream and /pitfall/blocking)",
)
# The scenarios whose requests each hold a slot for exactly the route's wait.
WAITING = ("db", "upstream", "blocking")
# How much slower than its quiet answer (target_check.Answer.seconds) a drained target may be:
# a service far away is never as fast as the lab's loopback ones.
IDLE_MARGIN_S = 0.1


def ceiling(scenario: Scenario, users: int) -> Ceiling | None:
    """The users' bound: ``ceiling(io_db, 8)`` is 160 rps, "8 users ÷ 0.05 s = 160 rps ..."."""
    if scenario.bound not in WAITING or scenario.wait_ms <= 0:
        return None
    hold_s = scenario.wait_ms / 1000
    rps = users / hold_s
    return Ceiling(
        rps,
        "users",
        f"{plural(users, 'user')} ÷ {hold_s:g} s = {rps:,.0f} rps (external target: its own "
        "slots are unknown, so only the users bound it)",
    )


def no_ceiling_reason(scenario: Scenario) -> str:
    """Why an external target's run of ``scenario`` has no ceiling."""
    if scenario.bound == "fanout":
        return (
            f"none: external target: whether it makes its {scenario.calls} upstream calls at "
            "once or one after the other is unknown, and with it how long a request waits"
        )
    return lab_reason(scenario) or f"none: {CPU_NOT_MEASURED}"


def cpu_plan(plan: dict[str, Any]) -> dict[str, Any]:
    """The lab's CPU plan for a set of external targets only: the generator's part stays, the
    services' says there are none of the lab's."""
    mine = {k: v for k, v in plan.items() if k != "proxies"}  # the variants' own proxies
    return {
        **mine,
        "service_cpus": None,
        "services_pinned": False,
        "services": "external targets only: the lab neither pins nor samples them",
        "unpinned": "the lab's Postgres and upstream play no part",
    }


def idle_within(answer_seconds: float) -> float:
    """How fast ``/healthz`` must answer for the target to count as drained."""
    return answer_seconds + IDLE_MARGIN_S
