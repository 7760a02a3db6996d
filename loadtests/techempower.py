"""The six TechEmpower test types, one user class each, so their numbers can be read beside the
published rounds (https://github.com/TechEmpower/FrameworkBenchmarks/wiki).

    locust -f loadtests/techempower.py Queries --headless -u 64 -t 30s -H http://127.0.0.1:8001
"""

from __future__ import annotations

from typing import Any

from locust import FastHttpUser, constant, task

from asynclab.bench.locust_support import expect_json, expect_text, option
from services.common.work import clamp_queries


def _is_world(row: Any) -> bool:
    return (
        isinstance(row, dict)
        and 1 <= row.get("id", 0) <= 10_000
        and 1 <= row.get("randomNumber", 0) <= 10_000
    )


def _is_worlds(body: Any, n: int) -> bool:
    return isinstance(body, list) and len(body) == n and all(_is_world(r) for r in body)


def _queries(user: FastHttpUser) -> int:
    return clamp_queries(str(option(user.environment, "queries")))


class Json(FastHttpUser):
    """GET /json: serialization only, the cheapest JSON route."""

    wait_time = constant(0)

    # Not named json: that would shadow User.json(), which the web UI calls, and crash it.
    @task
    def get_json(self) -> None:
        with self.client.get("/json", catch_response=True) as r:
            expect_json(r, lambda b: b == {"message": "Hello, World!"}, "the hello message")


class Plaintext(FastHttpUser):
    """GET /plaintext: the cheapest route of all, used to calibrate the generator."""

    wait_time = constant(0)

    @task
    def plaintext(self) -> None:
        with self.client.get("/plaintext", catch_response=True) as r:
            expect_text(r, ["Hello, World!"], "Hello, World!")


class Db(FastHttpUser):
    """GET /db: one random World row."""

    wait_time = constant(0)

    @task
    def db(self) -> None:
        with self.client.get("/db", catch_response=True) as r:
            expect_json(r, _is_world, "one World row")


class Queries(FastHttpUser):
    """GET /queries?queries=N: N random World rows, one query each."""

    wait_time = constant(0)

    @task
    def queries(self) -> None:
        n = _queries(self)
        with self.client.get(f"/queries?queries={n}", name="/queries", catch_response=True) as r:
            expect_json(r, lambda b: _is_worlds(b, n), f"{n} World rows")


class Updates(FastHttpUser):
    """GET /updates?queries=N: N rows read, changed and written back."""

    wait_time = constant(0)

    @task
    def updates(self) -> None:
        n = _queries(self)
        with self.client.get(f"/updates?queries={n}", name="/updates", catch_response=True) as r:
            expect_json(r, lambda b: _is_worlds(b, n), f"{n} updated World rows")


class Fortunes(FastHttpUser):
    """GET /fortunes: every Fortune plus one, sorted, escaped, as an HTML table."""

    wait_time = constant(0)

    @task
    def fortunes(self) -> None:
        with self.client.get("/fortunes", catch_response=True) as r:
            expect_text(
                r,
                ["<title>Fortunes</title>", "Additional fortune added at request time.",
                 "&lt;script&gt;"],
                "the fortunes table with the added row and escaped markup",
            )  # fmt: skip
