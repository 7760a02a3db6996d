"""The published OpenAPI document has every route of both services, and only those.

In process: both apps are built from a configuration whose database is never reached (the
Flask pool is closed at once; the FastAPI app opens nothing without its lifespan).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import flask
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from services.common import openapi
from services.common.config import ServiceConfig
from services.fastapi.app import create_app as create_fastapi
from services.flask.app import create_app as create_flask

Routes = set[tuple[str, str]]
IMPLICIT = {"HEAD", "OPTIONS"}  # served wherever GET is (HEAD) or nowhere (OPTIONS)


def config(name: str) -> ServiceConfig:
    return ServiceConfig(
        name=name,  # type: ignore[arg-type]
        variant="test",
        database_url="postgresql://nobody@127.0.0.1:1/none",
        upstream_url="http://127.0.0.1:1",
        db_pool_size=1,
        connect_timeout_s=0.1,
    )


@pytest.fixture(scope="module")
def flask_app() -> Iterator[flask.Flask]:
    app = create_flask(config("flask"))
    yield app
    app.extensions["asynclab_backend"].close()


def flask_routes(app: flask.Flask) -> Routes:
    return {
        (method, re.sub(r"<(\w+)>", r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in (rule.methods or set()) - IMPLICIT
    }


def fastapi_routes(app: FastAPI) -> Routes:
    return {
        (method, route.path)
        for route in app.routes
        if isinstance(route, APIRoute)
        for method in route.methods - IMPLICIT
    }


def documented() -> Routes:
    paths = openapi.document()["paths"]
    return {(method.upper(), path) for path, operations in paths.items() for method in operations}


def test_every_flask_route_is_documented(flask_app: flask.Flask) -> None:
    assert flask_routes(flask_app) == documented()


def test_every_fastapi_route_is_documented() -> None:
    assert fastapi_routes(create_fastapi(config("fastapi"))) == documented()


def test_served_bytes_are_the_document() -> None:
    assert json.loads(openapi.DOCUMENT_BYTES) == openapi.document()


def test_no_head_operations() -> None:
    """HEAD mirrors GET; documented, schemathesis would expect a body from it."""
    for operations in openapi.document()["paths"].values():
        assert set(operations) <= {"get", "post"}


def test_every_status_has_a_body_schema() -> None:
    for path, operations in openapi.document()["paths"].items():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                assert response["content"], (path, status)
