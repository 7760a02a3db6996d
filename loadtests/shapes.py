"""Load shapes. ``StepRamp`` climbs through concurrency levels (default 1, 8, 32, 64, 128, 256),
holding each long enough to reach a steady state, then stops.

Pick it in the web UI (``locust -f loadtests/ --class-picker``) next to any user class, or from
the command line (``--step-levels``, ``--step-hold``, or LOCUST_STEP_LEVELS/LOCUST_STEP_HOLD):

    locust -f loadtests/io_wait.py,loadtests/shapes.py IoDb --headless --step-hold 20 \\
        -H http://127.0.0.1:8002
"""

from __future__ import annotations

from locust import LoadTestShape

from asynclab.bench.locust_support import option
from asynclab.bench.steps import parse_levels, step_at


class StepRamp(LoadTestShape):
    """Hold each level of ``--step-levels`` for ``--step-hold`` seconds."""

    def tick(self) -> tuple[int, float] | None:
        env = self.runner.environment if self.runner else None
        levels = parse_levels(str(option(env, "step_levels"))) if env else [1]
        hold = float(option(env, "step_hold")) if env else 30.0
        users = step_at(levels, hold, self.get_run_time())  # type: ignore[no-untyped-call]
        # Spawn each level at once: the hold, not the ramp, is what is measured.
        return None if users is None else (users, float(users))
