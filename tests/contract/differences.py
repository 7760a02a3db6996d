"""Every way the two services may answer the same request differently: the one place the
equivalence tests (test_equivalence, test_fuzz, test_server_answers) read it.

Each difference has an id that docs/contract.md names under "Named differences", where it says
why; ``test_server_answers.test_the_contract_names_every_difference`` keeps the two in step.
Anything not listed here must be identical: status, media type and body, byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from contract import raw

Blank = Callable[[Any], Any]


def _blank_worlds(body: Any) -> Any:
    rows = body if isinstance(body, list) else [body]
    blank = [dict.fromkeys(row) for row in rows]
    return blank if isinstance(body, list) else blank[0]


def _without(*keys: str) -> Blank:
    return lambda body: {k: v for k, v in body.items() if k not in keys}


# id -> (method, route, status of the answers concerned, what is left out of the comparison).
RANDOM_BY_DESIGN: dict[str, tuple[str, str, int, Blank]] = {
    "random-world": ("GET", "/db", 200, _blank_worlds),
    "random-worlds": ("GET", "/queries", 200, _blank_worlds),
    "random-updates": ("GET", "/updates", 200, _blank_worlds),
    # elapsed_ms is a measurement; mode is the point of the route (concurrent or sequential).
    "fanout-timing": ("GET", "/fanout", 200, _without("elapsed_ms", "mode")),
    "item-ids": ("POST", "/items", 201, _without("id")),
}
# id -> (method, route): the body is each service's own figures; status and media type agree.
OWN_BODY: dict[str, tuple[str, str]] = {
    "metrics": ("GET", "/metrics"),
}
# id -> a raw request one server refuses before the application sees it, and each service's
# (status, media type). Flask's is gunicorn's parser; FastAPI's is uvicorn's (httptools), also
# in fastapi-workers. test_server_answers.py sends each and checks both.
SERVER_ANSWERS: dict[str, tuple[bytes, dict[str, tuple[int, str]]]] = {
    "unknown-method": (
        raw.head("FOO"),
        {"flask": (405, "application/json"), "fastapi": (400, "text/plain; charset=utf-8")},
    ),
    "malformed-http": (
        b"GET /json HTTP/1.1\r\nHost: asynclab\r\nno colon\r\nConnection: close\r\n\r\n",
        {"flask": (400, "text/html"), "fastapi": (400, "text/plain; charset=utf-8")},
    ),
    "asterisk-target": (
        raw.head("GET", "*"),
        {"flask": (400, "text/html"), "fastapi": (404, "application/json")},
    ),
}
NAMED = [*RANDOM_BY_DESIGN, *OWN_BODY, *SERVER_ANSWERS]


def route_of(path: str) -> str:
    """The route template a concrete path belongs to (only /items/{id} has a parameter)."""
    if path.startswith("/items/") and path.count("/") == 2:
        return "/items/{id}"
    return path


def named_difference(path: str, method: str, status: int) -> str | None:
    """The id of the difference the services may show in this answer, if any."""
    route = route_of(path)
    for id, (m, r) in OWN_BODY.items():
        if (m, r) == (method, route):
            return id
    for id, (m, r, s, _) in RANDOM_BY_DESIGN.items():
        if (m, r, s) == (method, route, status):
            return id
    return None


def comparable(
    path: str, method: str, status: int, headers: Mapping[str, str], content: bytes
) -> tuple[int, str, Any]:
    """What must be equal between the services: status, media type and body, less the parts
    named above. JSON is dumped again in the order its keys came, so key order counts too."""
    media_type = headers.get("content-type", "")
    named = named_difference(path, method, status)
    if named in OWN_BODY:
        return status, media_type, None
    if named in RANDOM_BY_DESIGN:
        blank = RANDOM_BY_DESIGN[named][3]
        return status, media_type, json.dumps(blank(json.loads(content)))
    return status, media_type, content


# id of contract/raw.py's SAME_ANSWER_CASES -> (status, media type) of a variant with nginx in
# front (flask-sync-nginx), which refuses these itself, in HTML (docs/contract.md).
PROXY_ANSWERS: dict[str, tuple[int, str]] = {
    "host-twice": (400, "text/html"),
}
# id of contract/cases.py's requests -> the same, for requests nginx answers itself.
PROXY_REQUESTS: dict[str, tuple[int, str]] = {
    "TRACE-/json": (405, "text/html"),
}
