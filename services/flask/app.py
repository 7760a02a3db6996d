"""The Flask service: ``create_app()`` under gunicorn (sync, gthread or gevent workers).

Routes, SQL, validation and bodies are the contract in docs/contract.md; everything that is not
Flask-specific lives in services/common so that the FastAPI service runs the very same code.
"""

from __future__ import annotations

import atexit
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from services.common import errors, work
from services.common.config import ServiceConfig, load_config
from services.common.errors import ApiError, dumps, parse_params
from services.common.models import MAX_BODY_BYTES, Fanout, ItemId, Wait, WorkNative, WorkPython
from services.common.openapi import DOCUMENT_BYTES, OPENAPI_PATH
from services.common.startup import freeze_startup_objects
from services.common.sync_backend import SyncBackend, pitfall_sleep

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)


def _json(payload: Any, status: int = 200) -> Response:
    return Response(dumps(payload), status=status, mimetype="application/json")


def _query() -> dict[str, str]:
    # The last value of a repeated parameter wins, as in Starlette, so both services agree.
    return {key: values[-1] for key, values in request.args.lists()}


def _body() -> bytes:
    """The request body, refused (413) past 64 KiB, chunked bodies included."""
    errors.check_body_size(request.headers.get("Content-Length"))
    body = request.stream.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise errors.payload_too_large()
    return body


def _error(exc: ApiError) -> Response:
    response = _json(exc.body(), exc.status)
    response.headers.update(exc.headers)
    return response


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

    @app.get("/json")
    def json_() -> Response:
        return _json({"message": "Hello, World!"})

    @app.get("/plaintext")
    def plaintext() -> Response:
        return Response(b"Hello, World!", mimetype="text/plain")

    @app.get("/db")
    def db() -> Response:
        return _json(backend.world())

    @app.get("/queries")
    def queries() -> Response:
        return _json(backend.worlds(work.clamp_queries(_query().get("queries"))))

    @app.get("/updates")
    def updates() -> Response:
        return _json(backend.update_worlds(work.clamp_queries(_query().get("queries"))))

    @app.get("/fortunes")
    def fortunes() -> Response:
        return Response(backend.fortunes(), mimetype="text/html")

    @app.get("/cpu/python")
    def cpu_python() -> Response:
        n = parse_params(WorkPython, _query()).work
        return _json({"work": n, "result": work.cpu_python(n)})

    @app.get("/cpu/native")
    def cpu_native() -> Response:
        n = parse_params(WorkNative, _query()).work
        return _json({"work": n, "result": work.cpu_native(n)})

    @app.get("/io/db")
    def io_db() -> Response:
        return _json(backend.sleep(parse_params(Wait, _query()).ms))

    @app.get("/io/upstream")
    def io_upstream() -> Response:
        return _json(backend.upstream(parse_params(Wait, _query()).ms))

    @app.get("/fanout")
    def fanout() -> Response:
        params = errors.within_wait_budget(parse_params(Fanout, _query()))
        return _json(backend.fanout(params.calls, params.ms))

    @app.get("/pitfall/blocking")
    def pitfall_blocking() -> Response:
        """The control for FastAPI's pitfall: a blocking sleep is fine in a sync worker."""
        return _json(pitfall_sleep(parse_params(Wait, _query()).ms))

    @app.post("/items")
    def create_item() -> Response:
        item = errors.parse_item(request.headers.get("Content-Type"), _body())
        return _json(backend.insert_item(item), 201)

    @app.get("/items/<id>")
    def get_item(id: str) -> Response:
        return _json(backend.get_item(parse_params(ItemId, {"id": id}, "path").id))

    @app.get(OPENAPI_PATH)
    def openapi() -> Response:
        return Response(DOCUMENT_BYTES, mimetype="application/json")

    @app.get("/healthz")
    def healthz() -> Response:
        return _json({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> Response:
        backend.ping()
        return _json({"status": "ready"})

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
