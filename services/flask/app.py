"""The Flask service: ``create_app()`` under gunicorn (sync, gthread or gevent workers).

Routes, SQL, validation and bodies are the contract in docs/contract.md; everything that is not
Flask-specific lives in services/common so that the FastAPI service runs the very same code.
"""

from __future__ import annotations

import atexit
import logging
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from services.common import errors
from services.common.config import ServiceConfig, load_config
from services.common.errors import ApiError, dumps
from services.common.models import DISCARD_LIMIT_BYTES, MAX_BODY_BYTES
from services.common.openapi import DOCUMENT_BYTES, OPENAPI_PATH
from services.common.routes import JSON, ROUTES, Route
from services.common.startup import freeze_startup_objects
from services.common.sync_backend import SyncBackend

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)


def _json(payload: Any, status: int = 200) -> Response:
    return Response(dumps(payload), status, content_type=JSON)


def _query() -> dict[str, str]:
    # The last value of a repeated parameter wins, as in Starlette, so both services agree.
    return {key: values[-1] for key, values in request.args.lists()}


def _discard_body() -> None:
    """Read a refused body, up to DISCARD_LIMIT_BYTES (services/common/models.py: why)."""
    left = DISCARD_LIMIT_BYTES
    while left > 0 and (chunk := request.stream.read(min(left, 65536))):
        left -= len(chunk)


def _body() -> bytes:
    """The request body, refused (413) past 64 KiB, chunked bodies included."""
    try:
        errors.check_body_size(request.headers.get("Content-Length"))
    except ApiError:
        _discard_body()
        raise
    body = request.stream.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        _discard_body()
        raise errors.payload_too_large()
    return body


def _error(exc: ApiError) -> Response:
    response = _json(exc.body(), exc.status)
    response.headers.update(exc.headers)
    return response


def _rule(path: str) -> str:
    """Werkzeug's syntax for a path of the table: ``/items/<id>`` for ``/items/{id}``."""
    return re.sub(r"\{(\w+)\}", r"<\1>", path)


def _static(body: bytes, content_type: str, status: int = 200) -> Callable[[], Response]:
    def view() -> Response:
        return Response(body, status, content_type=content_type)

    return view


def _view(route: Route, backend: SyncBackend) -> Callable[..., Response]:
    """The view of one route of the table, made once: no lookup in the table per request."""
    call = route.bind(backend)
    status, content_type = route.status, route.media_type
    if isinstance(call, bytes):
        return _static(call, content_type, status)
    encode = route.encoder()
    if route.where is None:

        def answer() -> Response:
            return Response(encode(call()), status, content_type=content_type)

        return answer
    if route.where == "body":
        parse_body = route.body_parser()

        def with_body() -> Response:
            # The body first: one past 64 KiB is a 413 whatever its content type.
            args = parse_body(request.headers.get("Content-Type"), _body())
            return Response(encode(call(*args)), status, content_type=content_type)

        return with_body
    parse = route.values_parser()
    if route.where == "path":

        def with_path(**path: str) -> Response:
            return Response(encode(call(*parse(path))), status, content_type=content_type)

        return with_path

    def with_query() -> Response:
        return Response(encode(call(*parse(_query()))), status, content_type=content_type)

    return with_query


class _ExactPaths:
    """A 404 for a path that starts with "//", which Werkzeug would route as if it had one.

    Starlette routes the path as sent, so "//json" matches nothing there. Before Flask, so that
    the metrics record it as unmatched, as FastAPI's do.
    """

    def __init__(self, wsgi_app: WSGIApplication) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        if path.startswith("//"):
            # WSGI carries the path as latin-1; Starlette decodes it as UTF-8.
            sent = path.encode("latin-1").decode("utf-8", "replace")
            return _error(errors.not_found(sent))(environ, start_response)
        return self.wsgi_app(environ, start_response)


def create_app(config: ServiceConfig | None = None) -> Flask:
    config = config or load_config()
    # No static files: Flask's /static/<path:filename> would be a route the contract lacks.
    app = Flask(__name__, static_folder=None)
    app.config.update(PROVIDE_AUTOMATIC_OPTIONS=False)
    # "//json" is not "/json" (Werkzeug would merge the slashes, or redirect): a 404, as in
    # Starlette.
    app.url_map.merge_slashes = False
    app.wsgi_app = _ExactPaths(app.wsgi_app)  # type: ignore[method-assign]
    backend = SyncBackend(config)
    backend.open()
    atexit.register(backend.close)
    app.extensions["asynclab_backend"] = backend

    if config.metrics_enabled:
        from services.common.metrics import register_pool
        from services.flask.metrics import instrument

        instrument(app)
        register_pool(backend.pool_stats)

    for route in ROUTES:
        app.add_url_rule(
            _rule(route.path), route.path, _view(route, backend), methods=[route.method]
        )
    app.add_url_rule(OPENAPI_PATH, OPENAPI_PATH, _static(DOCUMENT_BYTES, JSON))

    app.register_error_handler(ApiError, _error)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if exc.code == 404:
            return _error(errors.not_found(request.path))
        if exc.code == 405:
            return _error(errors.method_not_allowed(request.method, exc.valid_methods or []))  # type: ignore[attr-defined]
        if exc.code == 413:
            return _error(errors.payload_too_large())
        status = exc.code or 400
        name = (exc.name or "error").lower().replace(" ", "_")
        return _error(ApiError(status, name, [errors.issue("request", "request", name, name)]))

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        detail = [errors.issue("server", "server", "internal_error", "unexpected server error")]
        return _error(ApiError(500, "internal_error", detail))

    freeze_startup_objects()
    return app
