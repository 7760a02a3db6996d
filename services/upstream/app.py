"""The lab's slow upstream: ``GET /delay?ms=N`` answers ``{"ms": N}`` after N milliseconds.

A bare ASGI app on uvicorn: it costs next to nothing per request, so that the services, not
the upstream, are what a run measures. ``/healthz`` answers at once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_MS = 60_000


async def _reply(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    path = scope["path"]
    if path == "/healthz":
        await _reply(send, 200, {"status": "ok"})
        return
    if path != "/delay":
        await _reply(send, 404, {"error": "not_found"})
        return
    raw = parse_qs(scope["query_string"].decode()).get("ms", ["0"])[-1]
    if not raw.isdigit() or int(raw) > MAX_MS:
        await _reply(send, 422, {"error": "validation_error", "field": "ms"})
        return
    ms = int(raw)
    await asyncio.sleep(ms / 1000)
    await _reply(send, 200, {"ms": ms})
