"""How both services reach the upstream: one client configuration, blocking or async."""

from __future__ import annotations

from typing import Any

import httpx

from services.common.config import ServiceConfig

# /fanout can make 50 calls of up to 5 s each in sequence per request in sync variants, but a
# single call never waits more than 5 s: 15 s leaves room without letting a hang last forever.
CALL_TIMEOUT_S = 15.0


def client_options(config: ServiceConfig) -> dict[str, Any]:
    """Keyword arguments for ``httpx.Client`` and ``httpx.AsyncClient`` alike."""
    return {
        "base_url": config.upstream_url,
        "limits": httpx.Limits(
            max_connections=config.http_pool_size,
            max_keepalive_connections=config.http_pool_size,
        ),
        "timeout": httpx.Timeout(CALL_TIMEOUT_S, connect=config.connect_timeout_s),
    }
