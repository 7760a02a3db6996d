"""Non-blocking database and upstream access (asyncpg, aiohttp) for async handlers.

The same operations, SQL and payloads as services/common/sync_backend.py, awaited instead of
blocking; ``fanout`` runs its calls concurrently, the natural way of async code.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from types import TracebackType
from typing import Any

import aiohttp
import asyncpg

from services.common import errors, sql, work
from services.common.config import ServiceConfig
from services.common.models import ItemIn
from services.common.upstream import async_session, delay_path

# InternalClientError: a connection the server closed while it sat idle in the pool can be
# handed out before asyncpg has seen the close ("cannot switch to state 12; another operation
# (2) is in progress"): the connection is lost, not the request wrong.
DB_ERRORS = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)


class AsyncBackend:
    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.pool: asyncpg.Pool | None = None
        self.waiting = 0
        # aiohttp's session belongs to the event loop it is made on: made in open().
        self.http: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self.http = async_session(self.config)
        # min_size=0 lets the service start while Postgres is down (/readyz says 503 then);
        # warming every connection now keeps the pool as fixed as the psycopg one.
        self.pool = await asyncpg.create_pool(
            self.config.database_url,
            min_size=0,
            max_size=self.config.db_pool_size,
            max_inactive_connection_lifetime=0,
            timeout=self.config.connect_timeout_s,
            server_settings={"statement_timeout": str(self.config.statement_timeout_ms)},
        )
        conns = await asyncio.gather(
            *(self._acquire() for _ in range(self.config.db_pool_size)), return_exceptions=True
        )
        for conn in conns:
            if not isinstance(conn, BaseException):
                await self._release(conn)

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()
        if self.pool is not None:
            await self.pool.close()

    def pool_stats(self) -> tuple[int, int, int]:
        if self.pool is None:
            return 0, 0, 0
        size = self.pool.get_size()
        return size, size - self.pool.get_idle_size(), self.waiting

    async def _acquire(self) -> Any:
        assert self.pool is not None
        self.waiting += 1
        try:
            # asyncio.timeout, not acquire(timeout=...): on Python 3.11 asyncpg bounds the wait
            # with asyncio.wait_for, which creates a task per request.
            async with asyncio.timeout(self.config.connect_timeout_s):
                return await self.pool.acquire()
        finally:
            self.waiting -= 1

    async def _release(self, conn: Any) -> None:
        assert self.pool is not None
        # A lost connection fails its reset on release; asyncpg has then terminated it, and
        # the request's own answer (its 503, or its result) must stand. Bounded as the wait
        # for a connection is: the reset is a round trip to the server.
        with contextlib.suppress(*DB_ERRORS):
            await self.pool.release(conn, timeout=self.config.connect_timeout_s)

    def _connection(self) -> _Connection:
        return _Connection(self)

    async def ping(self) -> dict[str, str]:
        async with self._connection() as conn:
            await conn.fetchval(sql.PING)
        return {"status": "ready"}

    async def world(self) -> dict[str, int]:
        async with self._connection() as conn:
            row = await conn.fetchrow(sql.SELECT_WORLD, work.random_number())
        return {"id": row[0], "randomNumber": row[1]}

    async def worlds(self, n: int) -> list[dict[str, int]]:
        async with self._connection() as conn:
            return await _read_worlds(conn, n)

    async def update_worlds(self, n: int) -> list[dict[str, int]]:
        # One connection for the reads and the writes, as TechEmpower's implementations take.
        async with self._connection() as conn:
            worlds = await _read_worlds(conn, n)
            for w in worlds:
                w["randomNumber"] = work.new_random_number(w["randomNumber"])
            await conn.executemany(sql.UPDATE_WORLD, [(w["randomNumber"], w["id"]) for w in worlds])
        return worlds

    async def fortunes(self) -> str:
        async with self._connection() as conn:
            rows = await conn.fetch(sql.SELECT_FORTUNES)
        return work.render_fortunes([(int(r[0]), str(r[1])) for r in rows])

    async def sleep(self, ms: int) -> dict[str, int]:
        async with self._connection() as conn:
            await conn.execute(sql.SLEEP, ms / 1000)
        return {"ms": ms}

    async def pause(self, ms: int) -> dict[str, int]:
        """A wait with nothing behind it: a timer on the event loop, which holds no slot."""
        await asyncio.sleep(ms / 1000)
        return {"ms": ms}

    async def insert_item(self, item: ItemIn) -> dict[str, Any]:
        async with self._connection() as conn:
            row = await conn.fetchrow(
                sql.INSERT_ITEM, item.name, item.price, item.quantity, item.tags
            )
        return work.item_payload(row)

    async def get_item(self, item_id: int) -> dict[str, Any]:
        async with self._connection() as conn:
            row = await conn.fetchrow(sql.SELECT_ITEM, item_id)
        if row is None:
            raise errors.item_not_found(item_id)
        return work.item_payload(row)

    async def upstream(self, ms: int) -> dict[str, int]:
        if self.http is None:
            raise RuntimeError("AsyncBackend.open() was not awaited")
        try:
            async with self.http.get(delay_path(ms)) as response:
                await response.read()
        except (TimeoutError, aiohttp.ClientError):
            raise errors.upstream_unavailable() from None
        return {"ms": ms}

    async def fanout(self, calls: int, ms: int) -> dict[str, Any]:
        """All calls at once: the natural way of async code."""
        start = time.perf_counter()
        await asyncio.gather(*(self.upstream(ms) for _ in range(calls)))
        elapsed = (time.perf_counter() - start) * 1000
        return {"calls": calls, "ms": ms, "mode": "concurrent", "elapsed_ms": round(elapsed, 3)}


async def _read_worlds(conn: Any, n: int) -> list[dict[str, int]]:
    out: list[dict[str, int]] = []
    for world_id in work.random_ids(n):
        row = await conn.fetchrow(sql.SELECT_WORLD, world_id)
        out.append({"id": row[0], "randomNumber": row[1]})
    return out


class _Connection:
    """``async with backend._connection() as conn``: a pooled connection; errors become 503.

    A class rather than ``@asynccontextmanager``, whose generator costs more on every request.
    """

    __slots__ = ("backend", "conn")

    def __init__(self, backend: AsyncBackend) -> None:
        self.backend = backend

    async def __aenter__(self) -> Any:
        try:
            self.conn = await self.backend._acquire()
        except DB_ERRORS:
            raise errors.database_unavailable() from None
        return self.conn

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if isinstance(exc, DB_ERRORS):
                raise errors.database_unavailable() from None
        finally:
            await self.backend._release(self.conn)
