"""Fan-out: one request makes several upstream calls. Async handlers make them concurrently
(elapsed ~ ms), sync handlers one after another (elapsed ~ calls x ms).

    locust -f loadtests/fanout.py Fanout --headless -u 32 -t 30s -H http://127.0.0.1:8002
"""

from __future__ import annotations

from typing import Any

from locust import FastHttpUser, constant, task

from asynclab.bench.locust_support import expect_json, option


class Fanout(FastHttpUser):
    """GET /fanout?calls=K&ms=N."""

    wait_time = constant(0)

    @task
    def fanout(self) -> None:
        calls = int(option(self.environment, "calls"))
        ms = int(option(self.environment, "ms"))

        def ok(body: Any) -> bool:
            return (
                body.get("calls") == calls
                and body.get("ms") == ms
                and body.get("mode") in ("concurrent", "sequential")
                and float(body.get("elapsed_ms", -1)) >= 0.9 * ms
            )

        with self.client.get(
            f"/fanout?calls={calls}&ms={ms}", name="/fanout", catch_response=True
        ) as r:
            expect_json(r, ok, f"{calls} calls of {ms} ms")
