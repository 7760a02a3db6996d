"""The FastAPI service: ``create_app()`` under uvicorn, or gunicorn with uvicorn workers.

``SERVICE_HANDLERS=async`` (the default) serves every route from ``async def`` handlers on
asyncpg and aiohttp. ``SERVICE_HANDLERS=def`` serves the same routes from plain
``def`` handlers, which FastAPI runs in its thread pool, on the blocking data layer that Flask
uses. Routes, SQL, validation and bodies are the contract in docs/contract.md.
"""

# No ``from __future__ import annotations``: FastAPI reads these annotations at runtime.

import inspect
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from operator import attrgetter
from typing import Annotated, Any

import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common import errors
from services.common.config import ServiceConfig, load_config
from services.common.errors import ApiError, dumps
from services.common.models import DISCARD_LIMIT_BYTES, MAX_BODY_BYTES
from services.common.openapi import DOCUMENT_BYTES, OPENAPI_PATH
from services.common.routes import JSON, ROUTES, Route
from services.common.startup import freeze_startup_objects
from services.common.sync_backend import SyncBackend
from services.fastapi.async_backend import AsyncBackend
from services.fastapi.limits import RequestLimits

log = logging.getLogger(__name__)


def _json(payload: Any, status: int = 200) -> Response:
    return Response(dumps(payload), status, media_type=JSON)


def _error(exc: ApiError) -> Response:
    response = _json(exc.body(), exc.status)
    response.headers.update(exc.headers)
    return response


async def read_body(request: Request) -> bytes:
    """The request body, refused (413) past 64 KiB; a refused one is read up to
    DISCARD_LIMIT_BYTES first (services/common/models.py: why)."""
    chunks = request.stream()
    try:
        errors.check_body_size(request.headers.get("content-length"))
        body = bytearray()
        async for chunk in chunks:
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise errors.payload_too_large()
    except ApiError:
        left = DISCARD_LIMIT_BYTES
        async for chunk in chunks:
            left -= len(chunk)
            if left <= 0:
                break
        raise
    return bytes(body)


Body = Annotated[bytes, Depends(read_body)]
Endpoint = Callable[..., Any]
# A route's values, by where they come from: no dependency solving, one attribute read.
_VALUES: dict[str, Callable[[Request], Mapping[str, str]]] = {
    "query": attrgetter("query_params"),
    "path": attrgetter("path_params"),
}


def _static(body: bytes, media_type: str, status: int = 200) -> Endpoint:
    async def static() -> Response:
        return Response(body, status, media_type=media_type)

    return static


def _async_endpoint(route: Route, backend: AsyncBackend) -> Endpoint:
    """``async def``, on the event loop: the call is awaited where the backend's method is a
    coroutine function, and a plain function (the CPU routes, /pitfall/blocking's
    ``time.sleep``) runs right there, blocking the loop while it does: the lesson."""
    call = route.bind(backend)
    status, media_type = route.status, route.media_type
    if isinstance(call, bytes):
        return _static(call, media_type, status)
    encode, awaited = route.encoder(), inspect.iscoroutinefunction(call)
    if route.where is None:
        if not awaited:

            async def answer() -> Response:
                return Response(encode(call()), status, media_type=media_type)

            return answer

        async def answer_awaited() -> Response:
            return Response(encode(await call()), status, media_type=media_type)

        return answer_awaited
    if route.where == "body":
        assert awaited, f"{route.path}: a body is read on the loop; call the backend"
        parse_body = route.body_parser()

        async def with_body(request: Request) -> Response:
            args = parse_body(request.headers.get("content-type"), await read_body(request))
            return Response(encode(await call(*args)), status, media_type=media_type)

        return with_body
    parse, values = route.values_parser(), _VALUES[route.where]
    if not awaited:

        async def with_params(request: Request) -> Response:
            return Response(encode(call(*parse(values(request)))), status, media_type=media_type)

        return with_params

    async def with_params_awaited(request: Request) -> Response:
        return Response(encode(await call(*parse(values(request)))), status, media_type=media_type)

    return with_params_awaited


def _def_endpoint(route: Route, backend: SyncBackend) -> Endpoint:
    """Plain ``def``: FastAPI runs it in its thread pool (anyio's limiter, ``def_threads``)."""
    call = route.bind(backend)
    status, media_type = route.status, route.media_type
    if isinstance(call, bytes):
        body = call

        def static() -> Response:
            return Response(body, status, media_type=media_type)

        return static
    assert not inspect.iscoroutinefunction(call), route.path
    encode = route.encoder()
    if route.where is None:

        def answer() -> Response:
            return Response(encode(call()), status, media_type=media_type)

        return answer
    if route.where == "body":
        parse_body = route.body_parser()

        # The body is read on the loop, by the dependency, before the thread takes over.
        def with_body(request: Request, body: Body) -> Response:
            args = parse_body(request.headers.get("content-type"), body)
            return Response(encode(call(*args)), status, media_type=media_type)

        return with_body
    parse, values = route.values_parser(), _VALUES[route.where]

    def with_params(request: Request) -> Response:
        return Response(encode(call(*parse(values(request)))), status, media_type=media_type)

    return with_params


def _add_error_handlers(app: FastAPI) -> None:
    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return _error(exc)

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
    for route in ROUTES:
        endpoint = (
            _def_endpoint(route, backend)
            if isinstance(backend, SyncBackend)
            else _async_endpoint(route, backend)
        )
        app.add_api_route(route.path, endpoint, methods=[route.method], status_code=route.status)
    app.add_api_route(OPENAPI_PATH, _static(DOCUMENT_BYTES, JSON), methods=["GET"])
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


def _serve_head_like_get(app: FastAPI) -> None:
    """HEAD wherever GET is, as RFC 9110 asks and Flask does; uvicorn drops the body."""
    for route in app.routes:
        if isinstance(route, APIRoute) and route.methods and "GET" in route.methods:
            route.methods.add("HEAD")
