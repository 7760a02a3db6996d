"""A realistic mix: mostly cheap reads, some database and upstream waits, a few writes and a
little CPU, with think time between requests (so users are people, not a saturating loop).

    locust -f loadtests/mixed.py Mixed --headless -u 100 -t 60s -H http://127.0.0.1:8002
"""

from __future__ import annotations

import random
from typing import Any

from locust import FastHttpUser, between, task

from asynclab.bench.locust_support import expect_json, option


class Mixed(FastHttpUser):
    """Weighted tasks; weights say how often each happens relative to the others."""

    wait_time = between(0.05, 0.25)

    def on_start(self) -> None:
        self.item_ids: list[int] = []

    @task(30)
    def read_row(self) -> None:
        with self.client.get("/db", catch_response=True) as r:
            expect_json(r, lambda b: 1 <= b.get("id", 0) <= 10_000, "one World row")

    @task(20)
    def wait_db(self) -> None:
        ms = int(option(self.environment, "ms"))
        with self.client.get(f"/io/db?ms={ms}", name="/io/db", catch_response=True) as r:
            expect_json(r, lambda b: b == {"ms": ms}, f'{{"ms": {ms}}}')

    @task(15)
    def call_upstream(self) -> None:
        ms = int(option(self.environment, "ms"))
        with self.client.get(
            f"/io/upstream?ms={ms}", name="/io/upstream", catch_response=True
        ) as r:
            expect_json(r, lambda b: b == {"ms": ms}, f'{{"ms": {ms}}}')

    @task(10)
    def create_item(self) -> None:
        item = {"name": f"item-{random.randint(1, 10**6)}", "price": 9.5, "quantity": 3,
                "tags": ["mixed"]}  # fmt: skip

        def ok(body: Any) -> bool:
            if body.get("name") != item["name"] or not isinstance(body.get("id"), int):
                return False
            self.item_ids.append(body["id"])
            return True

        with self.client.post("/items", json=item, catch_response=True) as r:
            expect_json(r, ok, "the created item", status=201)

    @task(15)
    def read_item(self) -> None:
        if not self.item_ids:
            return
        item_id = random.choice(self.item_ids)
        with self.client.get(f"/items/{item_id}", name="/items/{id}", catch_response=True) as r:
            expect_json(r, lambda b: b.get("id") == item_id, f"item {item_id}")

    @task(5)
    def fortunes(self) -> None:
        with self.client.get("/fortunes", catch_response=True) as r:
            if r.status_code == 200 and "<table>" in (r.text or ""):
                r.success()
            else:
                r.failure(f"status {r.status_code}: not the fortunes table")

    @task(5)
    def compute(self) -> None:
        with self.client.get(
            "/cpu/python?work=20000", name="/cpu/python", catch_response=True
        ) as r:
            expect_json(r, lambda b: b.get("work") == 20000, "20000 steps computed")
