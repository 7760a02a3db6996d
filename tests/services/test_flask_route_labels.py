"""The Flask instrumentation's route label, read from Flask's request after Flask is done.

In process, with a real Flask app: the label logic is Flask-specific (FastAPI's is its own),
and the live tests in tests/observability cover the same labels end to end.
"""

from __future__ import annotations

import io
from typing import Any

import flask
import pytest
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.test import EnvironBuilder

from services.common import metrics
from services.flask.metrics import REQUEST_KEY, instrument


@pytest.fixture(scope="module")
def app() -> flask.Flask:
    app = flask.Flask(__name__)

    @app.get("/items/<int:item_id>")
    def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("an unhandled error")

    instrument(app)
    return app


def call(app: flask.Flask, method: str, path: str) -> tuple[str, dict[str, Any]]:
    environ = EnvironBuilder(method=method, path=path).get_environ()
    environ["wsgi.input"] = io.BytesIO()
    status = ""

    def start_response(code: str, headers: Any, exc_info: Any = None) -> Any:
        nonlocal status
        status = code[:3]
        return lambda data: None

    b"".join(app(environ, start_response))
    return status, environ


def count(route: str, method: str, status: str) -> float:
    body, _ = metrics.render()
    for family in text_string_to_metric_families(body.decode()):
        if family.name == "http_requests":
            for sample in family.samples:
                labels = sample.labels
                if sample.name == "http_requests_total" and (
                    labels["route"],
                    labels["method"],
                    labels["status"],
                ) == (route, method, status):
                    return sample.value
    return 0.0


@pytest.mark.parametrize(
    ("method", "path", "route", "status"),
    [
        ("GET", "/items/7", "/items/{item_id}", "200"),
        # A known path with the wrong method keeps its route, as in FastAPI.
        ("DELETE", "/items/7", "/items/{item_id}", "405"),
        ("GET", "/items/seven", metrics.UNMATCHED, "404"),
        ("GET", "/nowhere", metrics.UNMATCHED, "404"),
        ("GET", "/boom", "/boom", "500"),
    ],
)
def test_each_request_counts_once_under_its_route_template(
    app: flask.Flask, method: str, path: str, route: str, status: str
) -> None:
    before = count(route, method, status)
    answered, environ = call(app, method, path)
    assert answered == status
    assert count(route, method, status) == before + 1
    # The wrapper takes its reference to the request back: the request refers to the environ,
    # and a cycle would keep every request alive until the garbage collector runs.
    assert REQUEST_KEY not in environ
