"""Many requests at once all succeed: no pool exhausted, no deadlock, no dropped connection."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from contract.checks import CLIENT_LIMITS, CLIENT_TIMEOUT_S


def concurrently(service: str, path: str, n: int) -> list[httpx.Response]:
    limits = httpx.Limits(
        max_connections=n,
        max_keepalive_connections=n,
        keepalive_expiry=CLIENT_LIMITS.keepalive_expiry,
    )
    with (
        httpx.Client(base_url=service, timeout=CLIENT_TIMEOUT_S, limits=limits) as c,
        ThreadPoolExecutor(max_workers=n) as pool,
    ):
        return list(pool.map(lambda _: c.get(path), range(n)))


def test_50_concurrent_db_waits(service: str) -> None:
    responses = concurrently(service, "/io/db?ms=100", 50)
    assert [r.status_code for r in responses] == [200] * 50
    assert all(r.json() == {"ms": 100} for r in responses)


@pytest.mark.parametrize(
    "path", ["/updates?queries=20", "/io/upstream?ms=50", "/fanout?calls=5&ms=20"]
)
def test_20_concurrent(service: str, path: str) -> None:
    """Concurrent /updates touch the same rows: they must not deadlock each other."""
    responses = concurrently(service, path, 20)
    assert [r.status_code for r in responses] == [200] * 20
