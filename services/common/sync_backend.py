"""Blocking database and upstream access (psycopg_pool, urllib3): Flask and FastAPI ``def``.

Every public method either returns the payload or raises ``ApiError``: the handlers above it
do nothing but parse parameters and encode.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import urllib3

from services.common import errors, sql, work
from services.common.config import ServiceConfig
from services.common.models import ItemIn
from services.common.sync_pool import SyncPool
from services.common.upstream import CALL_TIMEOUT_S, blocking_pool, delay_path

# Converted once, at import: a statement with misordered placeholders stops the service here.
SELECT_WORLD = sql.pyformat(sql.SELECT_WORLD)
UPDATE_WORLD = sql.pyformat(sql.UPDATE_WORLD)
SLEEP = sql.pyformat(sql.SLEEP)
INSERT_ITEM = sql.pyformat(sql.INSERT_ITEM)
SELECT_ITEM = sql.pyformat(sql.SELECT_ITEM)


class SyncBackend:
    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.db = SyncPool(config)
        self.http = blocking_pool(config)

    def open(self) -> None:
        self.db.open()

    def close(self) -> None:
        self.http.close()
        self.db.close()

    def pool_stats(self) -> tuple[int, int, int]:
        return self.db.stats()

    @contextmanager
    def _cursor(self) -> Iterator[psycopg.Cursor[Any]]:
        with self.db.connection() as conn, conn.cursor() as cur:
            yield cur

    def ping(self) -> dict[str, str]:
        with self._cursor() as cur:
            cur.execute(sql.PING)
        return {"status": "ready"}

    def world(self) -> dict[str, int]:
        with self._cursor() as cur:
            cur.execute(SELECT_WORLD, (work.random_number(),))
            row = cur.fetchone()
        assert row is not None
        return {"id": row[0], "randomNumber": row[1]}

    def worlds(self, n: int) -> list[dict[str, int]]:
        with self._cursor() as cur:
            return _read_worlds(cur, n)

    def update_worlds(self, n: int) -> list[dict[str, int]]:
        # One connection for the reads and the writes, as TechEmpower's implementations take.
        with self._cursor() as cur:
            worlds = _read_worlds(cur, n)
            for w in worlds:
                w["randomNumber"] = work.new_random_number(w["randomNumber"])
            cur.executemany(UPDATE_WORLD, [(w["randomNumber"], w["id"]) for w in worlds])
        return worlds

    def fortunes(self) -> str:
        with self._cursor() as cur:
            cur.execute(sql.SELECT_FORTUNES)
            rows = [(int(r[0]), str(r[1])) for r in cur.fetchall()]
        return work.render_fortunes(rows)

    def sleep(self, ms: int) -> dict[str, int]:
        with self._cursor() as cur:
            cur.execute(SLEEP, (ms / 1000,))
        return {"ms": ms}

    def pause(self, ms: int) -> dict[str, int]:
        """A wait with nothing behind it: no pool, no connection, only the worker's slot (a
        thread, a process, or a greenlet where gevent has patched ``time.sleep``)."""
        time.sleep(ms / 1000)
        return {"ms": ms}

    def insert_item(self, item: ItemIn) -> dict[str, Any]:
        with self._cursor() as cur:
            cur.execute(INSERT_ITEM, (item.name, item.price, item.quantity, item.tags))
            row = cur.fetchone()
        assert row is not None
        return work.item_payload(row)

    def get_item(self, item_id: int) -> dict[str, Any]:
        with self._cursor() as cur:
            cur.execute(SELECT_ITEM, (item_id,))
            row = cur.fetchone()
        if row is None:
            raise errors.item_not_found(item_id)
        return work.item_payload(row)

    def upstream(self, ms: int) -> dict[str, int]:
        try:
            response = self.http.request("GET", delay_path(ms), pool_timeout=CALL_TIMEOUT_S)
        except urllib3.exceptions.HTTPError:
            raise errors.upstream_unavailable() from None
        if response.status >= 400:
            raise errors.upstream_unavailable()
        return {"ms": ms}

    def fanout(self, calls: int, ms: int) -> dict[str, Any]:
        """One call after the other: the natural way of a blocking handler."""
        start = time.perf_counter()
        for _ in range(calls):
            self.upstream(ms)
        elapsed = (time.perf_counter() - start) * 1000
        return {"calls": calls, "ms": ms, "mode": "sequential", "elapsed_ms": round(elapsed, 3)}


def pitfall_sleep(ms: int) -> dict[str, int]:
    time.sleep(ms / 1000)
    return {"ms": ms}


def _read_worlds(cur: psycopg.Cursor[Any], n: int) -> list[dict[str, int]]:
    out: list[dict[str, int]] = []
    for world_id in work.random_ids(n):
        cur.execute(SELECT_WORLD, (world_id,))
        row = cur.fetchone()
        assert row is not None
        out.append({"id": row[0], "randomNumber": row[1]})
    return out
