"""The FastAPI service: ``create_app()`` under uvicorn, or gunicorn with uvicorn workers.

``SERVICE_HANDLERS=async`` (the default) serves every route from ``async def`` handlers on
asyncpg and httpx.AsyncClient. ``SERVICE_HANDLERS=def`` serves the same routes from plain
``def`` handlers, which FastAPI runs in its thread pool, on the blocking data layer that Flask
uses. Routes, SQL, validation and bodies are the contract in docs/contract.md.
"""

# No ``from __future__ import annotations``: FastAPI reads these annotations at runtime.

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import anyio.to_thread
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common import errors, work
from services.common.config import ServiceConfig, load_config
from services.common.errors import ApiError, dumps, parse_params
from services.common.models import MAX_BODY_BYTES, Fanout, ItemId, Wait, WorkNative, WorkPython
from services.common.openapi import DOCUMENT_BYTES, OPENAPI_PATH
from services.common.startup import freeze_startup_objects
from services.common.sync_backend import SyncBackend, pitfall_sleep
from services.fastapi.async_backend import AsyncBackend
from services.fastapi.limits import RequestLimits

log = logging.getLogger(__name__)


def _json(payload: Any, status: int = 200) -> Response:
    return Response(dumps(payload), status_code=status, media_type="application/json")


def _error(exc: ApiError) -> Response:
    response = _json(exc.body(), exc.status)
    response.headers.update(exc.headers)
    return response


async def read_body(request: Request) -> bytes:
    """The request body, refused (413) past 64 KiB without reading the rest."""
    errors.check_body_size(request.headers.get("content-length"))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise errors.payload_too_large()
    return bytes(body)


Body = Annotated[bytes, Depends(read_body)]


def _add_async_routes(app: FastAPI, backend: AsyncBackend) -> None:
    @app.get("/json")
    async def json_() -> Response:
        return _json({"message": "Hello, World!"})

    @app.get("/plaintext")
    async def plaintext() -> Response:
        return Response(b"Hello, World!", media_type="text/plain; charset=utf-8")

    @app.get("/healthz")
    async def healthz() -> Response:
        return _json({"status": "ok"})

    @app.get("/db")
    async def db() -> Response:
        return _json(await backend.world())

    @app.get("/queries")
    async def queries(queries: str | None = None) -> Response:
        return _json(await backend.worlds(work.clamp_queries(queries)))

    @app.get("/updates")
    async def updates(queries: str | None = None) -> Response:
        return _json(await backend.update_worlds(work.clamp_queries(queries)))

    @app.get("/fortunes")
    async def fortunes() -> Response:
        return Response(await backend.fortunes(), media_type="text/html; charset=utf-8")

    @app.get("/cpu/python")
    async def cpu_python(params: Annotated[WorkPython, Query()]) -> Response:
        return _json({"work": params.work, "result": work.cpu_python(params.work)})

    @app.get("/cpu/native")
    async def cpu_native(params: Annotated[WorkNative, Query()]) -> Response:
        return _json({"work": params.work, "result": work.cpu_native(params.work)})

    @app.get("/io/db")
    async def io_db(params: Annotated[Wait, Query()]) -> Response:
        return _json(await backend.sleep(params.ms))

    @app.get("/io/upstream")
    async def io_upstream(params: Annotated[Wait, Query()]) -> Response:
        return _json(await backend.upstream(params.ms))

    @app.get("/fanout")
    async def fanout(params: Annotated[Fanout, Query()]) -> Response:
        errors.within_wait_budget(params)
        return _json(await backend.fanout(params.calls, params.ms))

    @app.get("/pitfall/blocking")
    async def pitfall_blocking(params: Annotated[Wait, Query()]) -> Response:
        return _json(pitfall_sleep(params.ms))  # blocks the event loop: the lesson

    @app.post("/items", status_code=201)
    async def create_item(request: Request, body: Body) -> Response:
        item = errors.parse_item(request.headers.get("content-type"), body)
        return _json(await backend.insert_item(item), 201)

    @app.get("/items/{id}")
    async def get_item(id: str) -> Response:
        return _json(await backend.get_item(parse_params(ItemId, {"id": id}, "path").id))

    @app.get("/readyz")
    async def readyz() -> Response:
        await backend.ping()
        return _json({"status": "ready"})


def _add_def_routes(app: FastAPI, backend: SyncBackend) -> None:
    @app.get("/json")
    def json_() -> Response:
        return _json({"message": "Hello, World!"})

    @app.get("/plaintext")
    def plaintext() -> Response:
        return Response(b"Hello, World!", media_type="text/plain; charset=utf-8")

    @app.get("/healthz")
    def healthz() -> Response:
        return _json({"status": "ok"})

    @app.get("/db")
    def db() -> Response:
        return _json(backend.world())

    @app.get("/queries")
    def queries(queries: str | None = None) -> Response:
        return _json(backend.worlds(work.clamp_queries(queries)))

    @app.get("/updates")
    def updates(queries: str | None = None) -> Response:
        return _json(backend.update_worlds(work.clamp_queries(queries)))

    @app.get("/fortunes")
    def fortunes() -> Response:
        return Response(backend.fortunes(), media_type="text/html; charset=utf-8")

    @app.get("/cpu/python")
    def cpu_python(params: Annotated[WorkPython, Query()]) -> Response:
        return _json({"work": params.work, "result": work.cpu_python(params.work)})

    @app.get("/cpu/native")
    def cpu_native(params: Annotated[WorkNative, Query()]) -> Response:
        return _json({"work": params.work, "result": work.cpu_native(params.work)})

    @app.get("/io/db")
    def io_db(params: Annotated[Wait, Query()]) -> Response:
        return _json(backend.sleep(params.ms))

    @app.get("/io/upstream")
    def io_upstream(params: Annotated[Wait, Query()]) -> Response:
        return _json(backend.upstream(params.ms))

    @app.get("/fanout")
    def fanout(params: Annotated[Fanout, Query()]) -> Response:
        errors.within_wait_budget(params)
        return _json(backend.fanout(params.calls, params.ms))

    @app.get("/pitfall/blocking")
    def pitfall_blocking(params: Annotated[Wait, Query()]) -> Response:
        return _json(pitfall_sleep(params.ms))

    @app.post("/items", status_code=201)
    def create_item(request: Request, body: Body) -> Response:
        item = errors.parse_item(request.headers.get("content-type"), body)
        return _json(backend.insert_item(item), 201)

    @app.get("/items/{id}")
    def get_item(id: str) -> Response:
        return _json(backend.get_item(parse_params(ItemId, {"id": id}, "path").id))

    @app.get("/readyz")
    def readyz() -> Response:
        backend.ping()
        return _json({"status": "ready"})


def _add_error_handlers(app: FastAPI) -> None:
    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return _error(exc)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        detail = [
            errors.issue(
                ".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]),
                str(e["loc"][0]),
                e["type"],
                e["msg"],
            )
            for e in exc.errors()
        ]
        return _error(ApiError(422, "validation_error", detail))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return _error(errors.not_found(request.url.path))
        if exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "").split(", ")
            return _error(errors.method_not_allowed(request.method, allowed))
        name = str(exc.detail).lower().replace(" ", "_")
        return _error(
            ApiError(exc.status_code, name, [errors.issue("request", "request", name, name)])
        )

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        detail = [errors.issue("server", "server", "internal_error", "unexpected server error")]
        return _error(ApiError(500, "internal_error", detail))

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


def create_app(config: ServiceConfig | None = None) -> FastAPI:
    config = config or load_config()
    backend: AsyncBackend | SyncBackend = (
        SyncBackend(config) if config.handlers == "def" else AsyncBackend(config)
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if isinstance(backend, SyncBackend):
            # FastAPI runs def handlers through anyio's default limiter: that is its pool size.
            anyio.to_thread.current_default_thread_limiter().total_tokens = config.def_threads
            backend.open()
        else:
            await backend.open()
        freeze_startup_objects()
        try:
            yield
        finally:
            if isinstance(backend, SyncBackend):
                backend.close()
            else:
                await backend.close()

    app = FastAPI(
        title=f"asynclab FastAPI ({config.variant})",
        lifespan=lifespan,
        # Flask answers /json/ with 404, not a redirect: so must this service.
        redirect_slashes=False,
        # Both services serve the contract's one document instead (services/common/openapi.py),
        # and no documentation pages, which Flask has not.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.backend = backend
    if isinstance(backend, SyncBackend):
        _add_def_routes(app, backend)
    else:
        _add_async_routes(app, backend)
    app.add_api_route(OPENAPI_PATH, _openapi, methods=["GET"])
    _add_error_handlers(app)

    if config.metrics_enabled:
        from services.common.metrics import register_pool
        from services.fastapi.metrics import instrument

        instrument(app)
        register_pool(backend.pool_stats)
    _serve_head_like_get(app)  # after every route, /metrics included
    # Outside the metrics: what gunicorn refuses never reaches Flask's metrics either.
    app.add_middleware(RequestLimits)
    return app


async def _openapi() -> Response:
    return Response(DOCUMENT_BYTES, media_type="application/json")


def _serve_head_like_get(app: FastAPI) -> None:
    """HEAD wherever GET is, as RFC 9110 asks and Flask does; uvicorn drops the body."""
    for route in app.routes:
        if isinstance(route, APIRoute) and route.methods and "GET" in route.methods:
            route.methods.add("HEAD")
