"""How the services reach the upstream: one pool size and one set of timeouts, blocking or async.

urllib3 (blocking handlers) and aiohttp (async handlers), not httpx: httpx's pool checks every
idle connection for readability on each request it hands out (httpcore's ``has_expired``, a
syscall per connection), so its cost grows with the connections in use. With 64 calls of 50 ms
at once on a 100-connection pool, httpx.AsyncClient took 490 ms a round where aiohttp took
57 ms, and httpx.Client served 570 calls/s where urllib3 served 1,206 (ideal: 1,280). The
upstream routes would have measured the client library instead of the concurrency model.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp
import urllib3

from services.common.config import ServiceConfig

# /fanout can make 50 calls of up to 5 s each in sequence per request in sync variants, but a
# single call never waits more than 5 s: 15 s leaves room without letting a hang last forever.
CALL_TIMEOUT_S = 15.0
# Idle connections are dropped before the upstream's uvicorn closes them (5 s keep-alive), so
# that no request is sent on a connection the server is closing.
KEEPALIVE_S = 4.0


def delay_path(ms: int) -> str:
    """The upstream's ``GET /delay?ms=N``: N is a validated integer, nothing to escape."""
    return f"/delay?ms={ms}"


def blocking_pool(config: ServiceConfig) -> urllib3.HTTPConnectionPool:
    """At most ``http_pool_size`` connections; a call waits for a free one (``block``), at most
    CALL_TIMEOUT_S. Never a retry: a call either reaches the upstream once or fails (502)."""
    url = urlsplit(config.upstream_url)
    return urllib3.HTTPConnectionPool(
        url.hostname or "127.0.0.1",
        url.port or 80,
        maxsize=config.http_pool_size,
        block=True,
        timeout=urllib3.Timeout(connect=config.connect_timeout_s, read=CALL_TIMEOUT_S),
        retries=False,
    )


def async_session(config: ServiceConfig) -> aiohttp.ClientSession:
    """The same budget for async handlers; created on the running event loop."""
    return aiohttp.ClientSession(
        base_url=config.upstream_url,
        connector=aiohttp.TCPConnector(
            limit=config.http_pool_size, limit_per_host=0, keepalive_timeout=KEEPALIVE_S
        ),
        timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT_S, connect=config.connect_timeout_s),
        raise_for_status=True,
    )
