"""The blocking data layer without a database: 503s, and no request waits out the pool.

Nothing listens on the database port here, as when a service starts before Postgres. The
pool's timeout is far above the bound these tests wait, so a request that waited it out, as
psycopg_pool alone makes it, fails them. The outage tests in tests/contract cover the rest
(a database that goes away under load and comes back) against a real Postgres.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from helpers import free_port

from services.common.config import ServiceConfig
from services.common.errors import ApiError
from services.common.sync_pool import SyncPool

POOL_TIMEOUT_S = 120.0
BOUND_S = 30.0  # generous for a busy machine, and far below the pool's timeout


@pytest.fixture
def pool() -> Iterator[SyncPool]:
    config = ServiceConfig(
        name="flask",
        variant="flask-sync",
        database_url=f"postgresql://asynclab:asynclab@127.0.0.1:{free_port()}/asynclab",
        upstream_url="http://127.0.0.1:1",
        db_pool_size=3,
        connect_timeout_s=POOL_TIMEOUT_S,
    )
    made = SyncPool(config)
    made.open()
    yield made
    made.close()


def status_of_a_query(pool: SyncPool) -> int | None:
    """The status a request gets, or None when it did not get one within BOUND_S."""
    got: list[int] = []

    def query() -> None:
        try:
            with pool.connection() as conn:
                conn.execute("SELECT 1")
            got.append(200)
        except ApiError as exc:
            got.append(exc.status)

    thread = threading.Thread(target=query, daemon=True)
    thread.start()
    thread.join(BOUND_S)
    return got[0] if got else None


def test_requests_get_503_without_waiting_out_the_pool(pool: SyncPool) -> None:
    assert status_of_a_query(pool) == 503
    assert status_of_a_query(pool) == 503
    assert pool.stats() == (0, 0, 0)  # no connection is counted while the database is down


def test_concurrent_requests_all_get_503(pool: SyncPool) -> None:
    statuses: list[int | None] = []
    threads = [
        threading.Thread(target=lambda: statuses.append(status_of_a_query(pool))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [503] * 8
