"""CPU-bound requests: does the concurrency model matter when the work is computation?

``CpuPython`` runs pure-Python steps that hold the GIL: threads and event loops add nothing,
only processes (and cores) do. ``CpuNative`` runs PBKDF2, which releases the GIL: threads can
run it in parallel when there are cores for them.

    locust -f loadtests/cpu.py CpuPython --headless -u 8 -t 30s -H http://127.0.0.1:8001
"""

from __future__ import annotations

from typing import Any

from locust import FastHttpUser, constant, task

from asynclab.bench.locust_support import expect_json, option


def _work_query(user: FastHttpUser) -> tuple[str, Any]:
    work = int(option(user.environment, "work") or 0)
    return (f"?work={work}" if work else ""), work


class CpuPython(FastHttpUser):
    """GET /cpu/python: pure-Python LCG steps (holds the GIL)."""

    wait_time = constant(0)

    @task
    def cpu_python(self) -> None:
        query, work = _work_query(self)
        with self.client.get(f"/cpu/python{query}", name="/cpu/python", catch_response=True) as r:
            expect_json(
                r,
                lambda b: isinstance(b.get("result"), int) and (not work or b["work"] == work),
                "an integer result",
            )


class CpuNative(FastHttpUser):
    """GET /cpu/native: PBKDF2-HMAC-SHA256 (C code that releases the GIL)."""

    wait_time = constant(0)

    @task
    def cpu_native(self) -> None:
        query, work = _work_query(self)
        with self.client.get(f"/cpu/native{query}", name="/cpu/native", catch_response=True) as r:
            expect_json(
                r,
                lambda b: isinstance(b.get("result"), str) and (not work or b["work"] == work),
                "a hex digest",
            )
