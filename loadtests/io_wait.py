"""Waiting on I/O: where async should win, bounded by whichever slots the wait holds.

(Named ``io_wait``, not ``io``: Locust puts this directory on sys.path, where ``io.py`` would
shadow the standard library.)

``IoDb`` waits in Postgres (``pg_sleep``) on a pooled connection: the ceiling is the number of
connections. ``IoUpstream`` waits on the slow upstream: the ceiling is the HTTP client's pool.
``IoSleep`` waits with nothing behind it (``/io/sleep``): the ceiling is the server's own slots,
so with thousands of users each holding one request it measures the connections themselves.

    locust -f loadtests/io_wait.py IoDb --headless -u 64 -t 30s -H http://127.0.0.1:8002 --ms 50
"""

from __future__ import annotations

from locust import FastHttpUser, constant, task

from asynclab.bench.locust_support import expect_json, option


class IoDb(FastHttpUser):
    """GET /io/db?ms=N: one ``SELECT pg_sleep`` on a pooled connection."""

    wait_time = constant(0)

    @task
    def io_db(self) -> None:
        ms = int(option(self.environment, "ms"))
        with self.client.get(f"/io/db?ms={ms}", name="/io/db", catch_response=True) as r:
            expect_json(r, lambda b: b == {"ms": ms}, f'{{"ms": {ms}}}')


class IoUpstream(FastHttpUser):
    """GET /io/upstream?ms=N: one call to the upstream, which answers after N ms."""

    wait_time = constant(0)

    @task
    def io_upstream(self) -> None:
        ms = int(option(self.environment, "ms"))
        with self.client.get(
            f"/io/upstream?ms={ms}", name="/io/upstream", catch_response=True
        ) as r:
            expect_json(r, lambda b: b == {"ms": ms}, f'{{"ms": {ms}}}')


class IoSleep(FastHttpUser):
    """GET /io/sleep?ms=N: a wait that holds no pooled resource, only the server's slot."""

    wait_time = constant(0)

    @task
    def io_sleep(self) -> None:
        ms = int(option(self.environment, "ms"))
        with self.client.get(f"/io/sleep?ms={ms}", name="/io/sleep", catch_response=True) as r:
            expect_json(r, lambda b: b == {"ms": ms}, f'{{"ms": {ms}}}')
