"""Prometheus instrumentation of the Flask service: a WSGI wrapper plus ``GET /metrics``.

A WSGI wrapper rather than before/after_request hooks so that every response is timed and
counted, including those Flask builds from an exception after the hooks have run. The route
comes from the request object Flask makes for the request: its class (``app.request_class``,
Flask's documented way to customize requests) notes each request in the environ, and the wrapper
reads the matched rule once Flask is done. Flask's own code for ``/json`` takes ~55 us
(measured in one process), so each microsecond spent here shows in its throughput. A
before_request hook (Flask wraps every hook call in ``ensure_sync``), a signal receiver, and
per-request context-variable lookups cost more than this one attribute read.
"""

from __future__ import annotations

from collections.abc import Iterable
from time import perf_counter
from typing import TYPE_CHECKING, Any

import flask
from werkzeug.exceptions import MethodNotAllowed

from services.common import metrics

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# Not werkzeug's own "werkzeug.request": Flask clears that one when the request ends.
REQUEST_KEY = "asynclab.request"


class _NotedRequest(flask.Request):
    """Flask's request, noted in its environ for the wrapper.

    Flask makes it with the request context and matches its URL when it pushes that context,
    before any hook, so a hook that answers early (a 415, say) still has its route recorded.
    """

    def __init__(
        self, environ: WSGIEnvironment, populate_request: bool = True, shallow: bool = False
    ) -> None:
        super().__init__(environ, populate_request, shallow)
        environ[REQUEST_KEY] = self


class _Routes:
    """The rule a finished request matched (None: none matched)."""

    def __init__(self, app: flask.Flask) -> None:
        self._app = app

    def __call__(self, request: flask.Request | None) -> str | None:
        if request is None:  # Flask failed before it made a request: no route was matched
            return None
        rule = request.url_rule
        if rule is None:
            error = request.routing_exception
            if not (isinstance(error, MethodNotAllowed) and error.valid_methods):
                return None
            # A known path with the wrong method keeps its route, as in FastAPI.
            adapter = self._app.url_map.bind_to_environ(request.environ)
            rule, _ = adapter.match(method=next(iter(error.valid_methods)), return_rule=True)
        return rule.rule


class _Instrumented:
    def __init__(self, wsgi_app: WSGIApplication, routes: _Routes) -> None:
        self.wsgi_app = wsgi_app
        self.routes = routes

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == metrics.METRICS_PATH:
            return self.wsgi_app(environ, start_response)
        if not metrics.sampler_running:  # a module attribute read: a call costs more
            metrics.start_sampler()
        status = "500"

        def remember_status(code: str, headers: Any, exc_info: Any = None) -> Any:
            nonlocal status
            status = code[:3]
            return start_response(code, headers, exc_info)

        metrics.request_started()
        start = perf_counter()
        try:
            return self.wsgi_app(environ, remember_status)
        finally:
            elapsed = perf_counter() - start
            # pop: the request refers to the environ, and a cycle would outlive the request.
            request = environ.pop(REQUEST_KEY, None)
            # The matched rule, read inline; what matched nothing goes the longer way.
            matched = request.url_rule if request is not None else None
            rule = matched.rule if matched is not None else self.routes(request)
            metrics.request_finished((rule, environ["REQUEST_METHOD"], status, elapsed))


def _metrics_view() -> flask.Response:
    body, content_type = metrics.render()
    return flask.Response(body, content_type=content_type)


def instrument(app: flask.Flask) -> None:
    """Count and time every request of ``app`` and serve ``GET /metrics``."""
    app.request_class = _NotedRequest
    app.wsgi_app = _Instrumented(app.wsgi_app, _Routes(app))  # type: ignore[method-assign]
    app.add_url_rule(metrics.METRICS_PATH, "metrics", _metrics_view, methods=["GET"])
