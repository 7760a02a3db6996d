"""The blocking data layer's connections: a psycopg pool that knows when the database is down.

psycopg_pool alone serves an outage badly. A request waits out the pool's whole timeout for a
connection that cannot come, so the requests queued behind a sync worker wait it out one after
the other (6.7 s with 3 workers); and after the outage the pool reconnects with an exponential
backoff (1, 2, 4, 8 s and so on), which kept Flask answering 503 for 10 s after a 30 s outage.
So this wraps the pool:

- A query that fails on a broken connection, or a wait for a connection that times out, makes
  the request that saw it probe the database with a connection of its own. If that fails, the
  database is down: the pool is closed (the requests waiting in it fail at once), and every
  request answers 503 at once, but for one at a time, ``PROBE_INTERVAL_S`` after the last,
  that probes again.
- The probe that connects again brings a fresh pool: no connection of before the outage is
  ever handed out, and no backoff delays the return.
- A pooled connection whose socket has something to read while idle was closed by the server
  (a restart that no request saw). It is dropped and the request takes another; that is safe
  because nothing was sent on it. asyncpg notices this by itself, on its event loop.
"""

from __future__ import annotations

import math
import select
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from services.common import errors
from services.common.config import ServiceConfig

Connection = psycopg.Connection[TupleRow]
# Errors of a query: a lost connection, a statement timeout, or the server refusing it.
QUERY_ERRORS = (psycopg.OperationalError,)
# At most one probe per process this often while the database is down: /readyz and the first
# request after the database's return see it within this interval.
PROBE_INTERVAL_S = 0.25
# A checkout tries this many connections: stale ones of a restart nobody saw are skipped.
CHECKOUT_ATTEMPTS = 3


def _unpatched_select() -> Callable[..., Any]:
    """select.select as the OS has it: gevent's would yield to other greenlets, for nothing when
    the timeout is zero. Only a gevent worker has imported gevent.monkey (to patch)."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None:
        return select.select
    found: Callable[..., Any] = monkey.get_original("select", "select")
    return found


_select = _unpatched_select()


def hung_up(conn: Connection) -> bool:
    """True when the server has spoken on an idle connection: that is its goodbye.

    Between requests a connection has nothing to read; a server that shuts down or restarts
    sends a FATAL error and closes it, which libpq sees only at the next query.
    """
    try:
        readable, _, _ = _select([conn.fileno()], [], [], 0)
    except (OSError, ValueError, psycopg.Error):
        return True
    return bool(readable)


class SyncPool:
    """``with pool.connection() as conn``: a working connection, or ``ApiError`` 503."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._pool = self._new_pool()
        self._down = False
        self._next_probe = 0.0
        self._probed_ok_at = -PROBE_INTERVAL_S
        self._investigating: ConnectionPool[Connection] | None = None

    def _connect_kwargs(self) -> dict[str, Any]:
        return {
            "connect_timeout": max(1, round(self.config.connect_timeout_s)),
            "options": f"-c statement_timeout={self.config.statement_timeout_ms}",
            "autocommit": True,
        }

    def _new_pool(self) -> ConnectionPool[Connection]:
        # A fixed-size pool (min = max) so that no variant pays for connecting during a run.
        # reconnect_timeout=0: a failed connection attempt is given up at once instead of
        # retried with a backoff of up to minutes; the pool grows back when a request waits,
        # and outages are this class's business (a give-up makes it look).
        return ConnectionPool(
            self.config.database_url,
            min_size=self.config.db_pool_size,
            max_size=self.config.db_pool_size,
            timeout=self.config.connect_timeout_s,
            reconnect_timeout=0,
            reconnect_failed=self._gave_up,
            open=False,
            kwargs=self._connect_kwargs(),
        )

    def _gave_up(self, pool: ConnectionPool[Connection]) -> None:
        """The pool could not connect: find out why, so that the requests waiting in it for a
        connection that will not come (at startup without Postgres, say) fail at once. Not on
        the pool's own worker thread: closing the pool joins it."""
        threading.Thread(
            target=self._investigate, args=(pool,), kwargs={"stale": False}, daemon=True
        ).start()

    def open(self) -> None:
        # Do not wait: the service must start (and answer /healthz, /readyz 503) without Postgres.
        self._pool.open(wait=False)

    def close(self) -> None:
        self._pool.close()

    def stats(self) -> tuple[int, int, int]:
        """Connections, connections in use, requests waiting (none while the database is down)."""
        if self._down:
            return 0, 0, 0
        stats = self._pool.get_stats()
        size = stats.get("pool_size", 0)
        return size, size - stats.get("pool_available", 0), stats.get("requests_waiting", 0)

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        pool, conn = self._checkout()
        try:
            yield conn
        except QUERY_ERRORS:
            broken = conn.broken
            pool.putconn(conn)
            if broken:  # not a statement timeout: the server went away, or the network did
                self._investigate(pool, stale=True)
            raise errors.database_unavailable() from None
        except BaseException:
            pool.putconn(conn)
            raise
        pool.putconn(conn)

    def _checkout(self) -> tuple[ConnectionPool[Connection], Connection]:
        for _ in range(CHECKOUT_ATTEMPTS):
            pool = self._usable_pool()
            try:
                conn = pool.getconn()
            except (PoolTimeout, PoolClosed):
                self._investigate(pool, stale=False)
                if pool is self._pool:  # no fresh pool to try: down, or only slow
                    raise errors.database_unavailable() from None
                continue
            if not hung_up(conn):
                return pool, conn
            conn.close()  # the pool replaces a closed connection when it comes back
            pool.putconn(conn)
            self._investigate(pool, stale=True)
        raise errors.database_unavailable()

    def _usable_pool(self) -> ConnectionPool[Connection]:
        """The pool, or 503 while the database is down, but for the probe that finds it back."""
        with self._lock:
            if not self._down:
                return self._pool
            if time.monotonic() < self._next_probe:
                raise errors.database_unavailable()
            # One probe at a time: a database that does not even refuse (a lost host) holds a
            # probe for the connect timeout, and a sync worker must not queue behind several.
            self._next_probe = math.inf
        up = False
        try:
            up = self._probe()
        finally:
            with self._lock:
                if up and self._down:
                    self._pool = self._new_pool()
                    self._pool.open(wait=False)
                    self._down = False
                self._next_probe = time.monotonic() + PROBE_INTERVAL_S
        if not up:
            raise errors.database_unavailable()
        return self._pool

    def _investigate(self, pool: ConnectionPool[Connection], *, stale: bool) -> None:
        """``pool`` failed a request: is the database down, or are its connections stale?

        One request per pool finds out (the others answer their 503 meanwhile), and a pool
        already replaced is not investigated again.
        """
        with self._lock:
            recently_ok = time.monotonic() - self._probed_ok_at < PROBE_INTERVAL_S
            if self._down or pool is not self._pool or self._investigating is pool:
                return
            if recently_ok and not stale:  # a slow pool, already known not to be an outage
                return
            self._investigating = pool
        try:
            up = self._probe()
        finally:
            with self._lock:
                self._investigating = None
        with self._lock:
            if self._down or pool is not self._pool or (up and not stale):
                return
            if up:
                self._pool = self._new_pool()
                self._pool.open(wait=False)
            else:
                self._down = True
                self._next_probe = time.monotonic() + PROBE_INTERVAL_S
        # In the background: close() waits for the pool's threads before it fails the requests
        # waiting in it, and a request must not wait for that.
        threading.Thread(target=pool.close, name="close-stale-pool", daemon=True).start()

    def _probe(self) -> bool:
        """Does the database accept a connection? A connection of its own, outside the pool."""
        try:
            psycopg.connect(self.config.database_url, **self._connect_kwargs()).close()
        except psycopg.Error:
            return False
        with self._lock:
            self._probed_ok_at = time.monotonic()
        return True
