"""Every service registers exactly the routes of services/common/routes.py, and docs/contract.md
and the OpenAPI document list exactly them: one table, checked wherever routes are written down.

In process: the apps are built from a configuration whose database is never reached (the Flask
pool is closed at once; the FastAPI apps open nothing without their lifespan). A failure names
each route that is missing or extra.
"""

from __future__ import annotations

import inspect
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import flask
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from asynclab.variants import GO_BINARY
from services.common import openapi
from services.common.config import ServiceConfig
from services.common.routes import ROUTES
from services.common.sync_backend import SyncBackend
from services.fastapi.app import create_app as create_fastapi
from services.fastapi.async_backend import AsyncBackend
from services.flask.app import create_app as create_flask

Routes = set[tuple[str, str]]  # (method, path in Starlette's syntax: /items/{id})
# Served beside the table by every service: the instrumentation's and the table's document.
ADDED: Routes = {("GET", "/metrics"), ("GET", openapi.OPENAPI_PATH)}
ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "docs" / "contract.md"


def table() -> Routes:
    return {(route.method, route.path) for route in ROUTES}


def with_head(routes: Routes) -> Routes:
    """HEAD wherever GET is (RFC 9110), as the contract says; OPTIONS nowhere."""
    return routes | {("HEAD", path) for method, path in routes if method == "GET"}


def assert_same(where: str, found: Routes, expected: Routes) -> None:
    missing, extra = sorted(expected - found), sorted(found - expected)

    def named(routes: list[tuple[str, str]]) -> str:
        return ", ".join(f"{method} {path}" for method, path in routes) or "none"

    if missing or extra:
        pytest.fail(f"{where}: missing {named(missing)}; extra {named(extra)}", pytrace=False)


def config(name: str, handlers: str) -> ServiceConfig:
    return ServiceConfig(
        name=name,  # type: ignore[arg-type]
        variant="test",
        handlers=handlers,  # type: ignore[arg-type]
        database_url="postgresql://nobody@127.0.0.1:1/none",
        upstream_url="http://127.0.0.1:1",
        db_pool_size=1,
        connect_timeout_s=0.1,
    )


@pytest.fixture(scope="module")
def flask_app() -> Iterator[flask.Flask]:
    app = create_flask(config("flask", "sync"))
    yield app
    app.extensions["asynclab_backend"].close()


def flask_routes(app: flask.Flask) -> Routes:
    """Every rule of the app, in Starlette's syntax; Werkzeug adds HEAD where GET is."""
    return {
        (method, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules()
        for method in rule.methods or set()
    }


def fastapi_routes(app: FastAPI) -> Routes:
    found: Routes = set()
    for route in app.routes:
        assert isinstance(route, APIRoute), f"not a FastAPI route: {route}"
        found |= {(method, route.path) for method in route.methods}
    return found


def test_flask_serves_the_table(flask_app: flask.Flask) -> None:
    assert_same("Flask", flask_routes(flask_app), with_head(table() | ADDED))


@pytest.mark.parametrize("handlers", ["async", "def"])
def test_fastapi_serves_the_table(handlers: str) -> None:
    app = create_fastapi(config("fastapi", handlers))
    assert_same(f"FastAPI ({handlers})", fastapi_routes(app), with_head(table() | ADDED))


@pytest.mark.parametrize(("handlers", "coroutines"), [("async", True), ("def", False)])
def test_fastapi_handlers_are_async_or_def_by_variant(handlers: str, coroutines: bool) -> None:
    """async: every route's handler is ``async def`` on the event loop, the CPU routes and
    /pitfall/blocking's time.sleep included (the lesson); def: plain ``def`` in the pool."""
    app = create_fastapi(config("fastapi", handlers))
    endpoints = {route.path: route.endpoint for route in app.routes if isinstance(route, APIRoute)}
    for route in ROUTES:
        assert inspect.iscoroutinefunction(endpoints[route.path]) is coroutines, route.path


def test_go_serves_the_table() -> None:
    """The Go service's own table, as ``asynclab-go --routes`` prints it (one "METHOD /path" a
    line, HEAD beside GET), is the Python services' table."""
    binary = ROOT / GO_BINARY
    assert binary.is_file(), f"{GO_BINARY} is not built: run scripts/install.sh"
    listed = subprocess.run(
        [binary, "--routes"], check=True, capture_output=True, text=True, timeout=30
    ).stdout
    pairs = (line.split(" ", 1) for line in listed.splitlines())
    found = {(method, path) for method, path in pairs}
    assert_same("Go", found, with_head(table() | ADDED))


# Builds the Fastify application with nothing behind it (no database, no upstream: building
# reaches neither) and prints every route Fastify registers, HEAD included, as "METHOD /path".
NODE_ROUTES = """
const path = require('node:path')
const root = process.argv[1]
const resolved = require.resolve('fastify', { paths: [path.join(root, 'services/node')] })
const Fastify = require(resolved)
const found = []
require.cache[resolved].exports = (options) => {
  const app = Fastify(options)
  app.addHook('onRoute', (r) => {
    for (const m of [].concat(r.method)) found.push(`${m} ${r.url}`)
  })
  return app
}
const { build } = require(path.join(root, 'services/node/src/app.js'))
build({ openapiPath: path.join(root, 'services/common/openapi.json') },
  { database: null, upstream: null, metrics: { render: () => '', local: null } })
console.log(found.join('\\n'))
"""


def test_node_serves_the_table() -> None:
    """The routes Fastify registers in the Node service (routes.js' table) are the Python
    services' table, in Starlette's syntax."""
    listed = subprocess.run(
        ["node", "-e", NODE_ROUTES, str(ROOT)], check=True, capture_output=True, text=True,
        timeout=30,
    ).stdout  # fmt: skip
    pairs = (line.split(" ", 1) for line in listed.splitlines())
    found = {(method, re.sub(r":(\w+)", r"{\1}", path)) for method, path in pairs}
    assert_same("Node", found, with_head(table() | ADDED))


def contract_routes() -> Routes:
    """The rows of docs/contract.md's "Routes" table: | `GET /json` | ... |."""
    text = CONTRACT.read_text()
    section = text.split("\n## Routes", 1)[1].split("\n## ", 1)[0]
    return {
        (method, path) for method, path in re.findall(r"^\| `([A-Z]+) (/\S*)` \|", section, re.M)
    }


def test_the_contract_lists_the_table() -> None:
    assert_same("docs/contract.md, Routes", contract_routes(), table() | ADDED)


def test_the_openapi_document_lists_the_table() -> None:
    paths = openapi.document()["paths"]
    documented = {(method.upper(), path) for path, ops in paths.items() for method in ops}
    assert_same("the OpenAPI document", documented, table() | ADDED)


def test_a_difference_is_named() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"x: missing GET /b; extra GET /d, POST /c$"):
        assert_same(
            "x", {("GET", "/a"), ("POST", "/c"), ("GET", "/d")}, {("GET", "/a"), ("GET", "/b")}
        )


def test_calls_are_methods_of_both_backends() -> None:
    """A backend call names a method that each backend has: blocking in SyncBackend, a
    coroutine function in AsyncBackend (which the async handlers await)."""
    for route in ROUTES:
        if isinstance(route.call, str):
            sync, native = getattr(SyncBackend, route.call), getattr(AsyncBackend, route.call)
            assert not inspect.iscoroutinefunction(sync), route.path
            assert inspect.iscoroutinefunction(native), route.path
        else:
            assert not inspect.iscoroutinefunction(route.call), route.path


def test_parameters_match_where_they_come_from() -> None:
    """A path's {fields} are its model's fields; a body comes only with POST."""
    for route in ROUTES:
        names = set(re.findall(r"\{(\w+)\}", route.path))
        if route.where == "path":
            assert route.params is not None
            assert names == set(route.params.model_fields), route.path
        else:
            assert not names, route.path
        assert (route.where == "body") == (route.method == "POST"), route.path
