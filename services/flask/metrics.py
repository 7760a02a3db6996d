"""Prometheus instrumentation of the Flask service: a WSGI wrapper plus ``GET /metrics``.

A WSGI wrapper rather than before/after_request hooks so that every response is timed and
counted, including those Flask builds from an exception after the hooks have run.
"""

from __future__ import annotations

from collections.abc import Iterable
from time import perf_counter
from typing import TYPE_CHECKING, Any

import flask
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.routing import Rule

from services.common import metrics

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

ROUTE_KEY = "asynclab.route"
_templates: dict[str, str] = {}


def _template(rule: Rule) -> str:
    template = _templates.get(rule.rule)
    if template is None:
        template = _templates[rule.rule] = metrics.route_template(rule.rule)
    return template


def _remember_route() -> None:
    """Store the route template where the WSGI wrapper finds it after the request context ends."""
    request = flask.globals.request_ctx.request  # one context lookup, not one per attribute
    rule = request.url_rule
    error = request.routing_exception
    if rule is None and isinstance(error, MethodNotAllowed) and error.valid_methods:
        # A known path with the wrong method keeps its route, as in FastAPI.
        adapter = flask.current_app.url_map.bind_to_environ(request.environ)
        rule, _ = adapter.match(method=next(iter(error.valid_methods)), return_rule=True)
    if rule is not None:
        request.environ[ROUTE_KEY] = _template(rule)


class _Instrumented:
    def __init__(self, wsgi_app: WSGIApplication) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == metrics.METRICS_PATH:
            return self.wsgi_app(environ, start_response)
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
            route = environ.get(ROUTE_KEY, metrics.UNMATCHED)
            elapsed = perf_counter() - start
            metrics.request_finished(route, environ["REQUEST_METHOD"], status, elapsed)


def _metrics_view() -> flask.Response:
    body, content_type = metrics.render()
    return flask.Response(body, content_type=content_type)


def instrument(app: flask.Flask) -> None:
    """Count and time every request of ``app`` and serve ``GET /metrics``."""
    # First, so that a hook that answers early (a 415, say) still has its route recorded.
    app.before_request_funcs.setdefault(None, []).insert(0, _remember_route)
    app.wsgi_app = _Instrumented(app.wsgi_app)  # type: ignore[method-assign]
    app.add_url_rule(metrics.METRICS_PATH, "metrics", _metrics_view, methods=["GET"])
