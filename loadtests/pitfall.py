"""The pitfall: ``time.sleep`` inside ``async def`` blocks the event loop, so one FastAPI process
serves one such request at a time, while every sync worker or thread sleeps on its own.

    locust -f loadtests/pitfall.py PitfallBlocking --headless -u 32 -t 30s -H http://127.0.0.1:8002
"""

from __future__ import annotations

from locust import FastHttpUser, constant, task

from asynclab.bench.locust_support import expect_json, option


class PitfallBlocking(FastHttpUser):
    """GET /pitfall/blocking?ms=N."""

    wait_time = constant(0)

    @task
    def pitfall_blocking(self) -> None:
        ms = int(option(self.environment, "ms"))
        with self.client.get(
            f"/pitfall/blocking?ms={ms}", name="/pitfall/blocking", catch_response=True
        ) as r:
            expect_json(r, lambda b: b == {"ms": ms}, f'{{"ms": {ms}}}')
