"""The routes both services serve, as one table: docs/contract.md's "Routes" as data.

Each framework registers the table with a short adapter (``services/flask/app.py``,
``services/fastapi/app.py``) that makes every handler once, at startup, so a request pays for
no lookup in this table. The OpenAPI document is built from it (``services/common/openapi.py``),
and ``tests/services/test_route_table.py`` proves that every service registers exactly these
routes and that the contract lists exactly them. Besides them every service serves ``GET
/metrics`` (``services/*/metrics.py``) and ``GET /openapi.json`` (the document of this table).

A row's ``call`` makes the answer:

- the name of a backend method: ``SyncBackend`` and ``AsyncBackend`` have the same ones, and
  the adapter awaits the call where the method is a coroutine function;
- a plain function, called as it is: in FastAPI's ``async def`` handlers on the event loop,
  which is the lesson of the CPU routes and of ``/pitfall/blocking``'s ``time.sleep``;
- bytes: the body itself.

Its arguments are the fields of the validated ``params`` in their order (``Wait`` gives ``ms``,
``Fanout`` gives ``calls, ms``), or the validated body itself. A JSON route's payload is
encoded with ``errors.dumps``; a text route's call returns its text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from services.common import errors, work
from services.common.errors import dumps, parse_body, parse_params
from services.common.models import (
    Fanout,
    ItemId,
    ItemIn,
    Queries,
    Wait,
    WorkNative,
    WorkPython,
)
from services.common.sync_backend import pitfall_sleep

JSON = "application/json"
# With the charset, as both frameworks send it.
TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"

Where = Literal["query", "path", "body"]
ValuesParser = Callable[[Mapping[str, str]], tuple[Any, ...]]
BodyParser = Callable[[str | None, bytes], tuple[Any, ...]]


@dataclass(frozen=True)
class Route:
    method: Literal["GET", "POST"]
    path: str  # Starlette's syntax: ``/items/{id}``
    params: type[BaseModel] | None  # what validates the query, the path's fields or the body
    call: str | Callable[..., Any] | bytes
    status: int = 200
    media_type: str = JSON
    # A rule over several parameters, checked after the model's own (it raises ApiError).
    check: Callable[[Any], object] | None = None

    @property
    def where(self) -> Where | None:
        """Where ``params`` come from: a POST's body, the path's fields, else the query."""
        if self.params is None:
            return None
        if self.method == "POST":
            return "body"
        return "path" if "{" in self.path else "query"

    def bind(self, backend: object) -> Callable[..., Any] | bytes:
        """The call, on ``backend`` where it names a method of it."""
        return getattr(backend, self.call) if isinstance(self.call, str) else self.call

    def encoder(self) -> Callable[[Any], bytes]:
        return dumps if self.media_type == JSON else str.encode

    def values_parser(self) -> ValuesParser:
        """The call's arguments from the query's or the path's values (422 naming the field)."""
        model, where = self.params, self.where
        assert model is not None, self
        assert where in ("query", "path"), self

        # The fields' values in their order: a pydantic model's __dict__ holds exactly those.
        def parse(values: Mapping[str, str]) -> tuple[Any, ...]:
            return tuple(parse_params(model, values, where).__dict__.values())

        if self.check is None:
            return parse
        check = self.check

        def parse_and_check(values: Mapping[str, str]) -> tuple[Any, ...]:
            params = parse_params(model, values, where)
            check(params)
            return tuple(params.__dict__.values())

        return parse_and_check

    def body_parser(self) -> BodyParser:
        """The call's one argument from the body and its content type (4xx naming the field)."""
        model = self.params
        assert model is not None, self
        assert self.where == "body", self

        def parse(content_type: str | None, body: bytes) -> tuple[Any, ...]:
            return (parse_body(model, content_type, body),)

        return parse


def hello() -> dict[str, str]:
    # A new object for every request, then encoded: TechEmpower's JSON test asks for that.
    return {"message": "Hello, World!"}


def healthy() -> dict[str, str]:
    return {"status": "ok"}


def cpu_python(steps: int) -> dict[str, int]:
    return {"work": steps, "result": work.cpu_python(steps)}


def cpu_native(iterations: int) -> dict[str, int | str]:
    return {"work": iterations, "result": work.cpu_native(iterations)}


ROUTES: tuple[Route, ...] = (
    Route("GET", "/json", None, hello),
    Route("GET", "/plaintext", None, b"Hello, World!", media_type=TEXT),
    Route("GET", "/db", None, "world"),
    Route("GET", "/queries", Queries, "worlds"),
    Route("GET", "/updates", Queries, "update_worlds"),
    Route("GET", "/fortunes", None, "fortunes", media_type=HTML),
    Route("GET", "/cpu/python", WorkPython, cpu_python),
    Route("GET", "/cpu/native", WorkNative, cpu_native),
    Route("GET", "/io/db", Wait, "sleep"),
    Route("GET", "/io/upstream", Wait, "upstream"),
    # A wait with no pool behind it: what bounds it is the server's own slots (thousands of
    # connections: asyncio.sleep in async handlers, time.sleep in def and sync ones).
    Route("GET", "/io/sleep", Wait, "pause"),
    Route("GET", "/fanout", Fanout, "fanout", check=errors.within_wait_budget),
    # time.sleep: in an async def handler it blocks the event loop, the pitfall; in a def one it
    # blocks one worker or thread, the control.
    Route("GET", "/pitfall/blocking", Wait, pitfall_sleep),
    Route("POST", "/items", ItemIn, "insert_item", status=201),
    Route("GET", "/items/{id}", ItemId, "get_item"),
    Route("GET", "/healthz", None, healthy),
    Route("GET", "/readyz", None, "ping"),
)
