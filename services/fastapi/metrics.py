"""Prometheus instrumentation of the FastAPI service: a pure ASGI middleware plus ``GET /metrics``.

Pure ASGI (not ``BaseHTTPMiddleware``) so that timing a request costs no extra task or stream.
The middleware also runs the event-loop lag monitor: a task that sleeps 0.5 s and records how
late it woke up. A handler that blocks the loop (``/pitfall/blocking``) shows up as lag. The
same task publishes the request tally and the pool gauges (``metrics.sample()``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from time import perf_counter

import fastapi
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common import metrics

# livemax: with several uvicorn workers the worst loop is the one that matters.
LOOP_LAG = metrics.gauge(
    "event_loop_lag_seconds",
    "How late a 0.5 s asyncio sleep wakes up: time the event loop was blocked.",
    multiprocess_mode="livemax",
)


async def watch_loop_lag(interval: float = metrics.SAMPLE_INTERVAL_S) -> None:
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(interval)
        LOOP_LAG.set(max(0.0, loop.time() - start - interval))
        # The loop's own thread reads the pool, so an asyncpg pool is never touched concurrently;
        # sample() also publishes the request tally (a few mmap writes, once per 0.5 s).
        with contextlib.suppress(Exception):
            metrics.sample()


request_started = metrics.request_started
request_finished = metrics.request_finished


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._monitor: asyncio.Task[None] | None = None

    def _start_monitor(self) -> None:
        if self._monitor is None:
            self._monitor = asyncio.get_running_loop().create_task(watch_loop_lag())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == metrics.METRICS_PATH:
            if scope["type"] == "lifespan":
                await self._lifespan(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        # Also here, for servers run without lifespan events. Inline: a call costs more.
        if self._monitor is None:
            self._start_monitor()
        status = 500

        # A plain function that hands back send's awaitable: an ``async def`` here would cost a
        # coroutine per message.
        def send_and_remember(message: Message) -> Awaitable[None]:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            return send(message)

        request_started()
        start = perf_counter()
        try:
            await self.app(scope, receive, send_and_remember)
        finally:
            # The router has written the matched route into this same scope dict; its path is
            # the rule, made a label once per flush (services/common/tally.py).
            rule = getattr(scope.get("route"), "path", None)
            request_finished((rule, scope["method"], status, perf_counter() - start))

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._start_monitor()

        async def receive_and_stop() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown" and self._monitor is not None:
                self._monitor.cancel()
            return message

        await self.app(scope, receive_and_stop, send)


def _metrics_endpoint() -> fastapi.Response:
    # A plain def: FastAPI runs it in its thread pool, so reading the files never blocks the loop.
    body, content_type = metrics.render()
    return fastapi.Response(body, media_type=content_type)


def instrument(app: fastapi.FastAPI) -> None:
    """Count and time every request of ``app``, watch its event loop, serve ``GET /metrics``."""
    app.add_middleware(MetricsMiddleware)
    app.add_api_route(
        metrics.METRICS_PATH, _metrics_endpoint, methods=["GET"], include_in_schema=False
    )
