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

from asynclab.variants import Variant
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
# id -> a raw request one server refuses before the application sees it (or hands on where
# another refuses), and the (status, media type) under each server that parses heads (``front``).
# test_server_answers.py sends each to both services.
SERVER_ANSWERS: dict[str, tuple[bytes, dict[str, tuple[int, str]]]] = {
    "unknown-method": (
        raw.head("FOO"),
        {"gunicorn": (405, "application/json"), "uvicorn": (400, "text/plain; charset=utf-8"),
         "granian": (405, "application/json"),
         "node": (405, "application/json"), "go": (405, "application/json")},
    ),
    "malformed-http": (
        b"GET /json HTTP/1.1\r\nHost: asynclab\r\nno colon\r\nConnection: close\r\n\r\n",
        {"gunicorn": (400, "text/html"), "uvicorn": (400, "text/plain; charset=utf-8"),
         "granian": (400, ""),
         "node": (400, "application/json"), "go": (400, "text/plain; charset=utf-8")},
    ),
    "asterisk-target": (
        raw.head("GET", "*"),
        {"gunicorn": (400, "text/html"), "uvicorn": (404, "application/json"),
         "granian": (404, "application/json"),
         "node": (404, "application/json"), "go": (404, "application/json")},
    ),
}  # fmt: skip
# id -> (the id of one of contract/raw.py's SAME_ANSWER_CASES, and the (status, media type) of
# each framework's granian variant where it answers that head otherwise).
GRANIAN_ANSWERS: dict[str, tuple[str, dict[str, tuple[int, str]]]] = {
    # hyper refuses a 101st field itself (gunicorn's limit, 100), with an empty 431.
    "granian-field-count": ("fields-past-limit", {"flask": (431, ""), "fastapi": (431, "")}),
    # A WSGI environ under granian holds the first of repeated Content-Type and Host fields
    # only: Flask cannot see the repeat (the FastAPI app sees every field, and refuses it).
    "granian-content-type-twice": ("content-type-twice", {"flask": (400, "application/json")}),
    "granian-host-twice": ("host-twice", {"flask": (200, "application/json")}),
}
# id -> (the id of one of contract/raw.py's SAME_ANSWER_CASES, and the (status, media type) Go's
# server (net/http) answers that head with itself, before the service sees it).
GO_ANSWERS: dict[str, tuple[str, tuple[int, str]]] = {
    # net/http refuses a repeated Host itself: a 400 as the contract says, but in its own text.
    "go-host-twice": ("host-twice", (400, "text/plain; charset=utf-8")),
}
NAMED = [*RANDOM_BY_DESIGN, *OWN_BODY, *SERVER_ANSWERS, *GRANIAN_ANSWERS, *GO_ANSWERS]


def front(variant: Variant) -> str:
    """The server whose parser judges a request head first: granian in the granian variants,
    Node's or Go's own HTTP server in the reference services; otherwise gunicorn for Flask
    (nginx in front passes these heads on to it) and uvicorn's httptools for FastAPI
    (fastapi-workers too: gunicorn runs uvicorn workers there)."""
    if variant.server in ("granian", "node", "go"):
        return variant.server
    return "gunicorn" if variant.framework == "flask" else "uvicorn"


def own_answer(variant: Variant, case: str) -> tuple[int, str] | None:
    """The (status, media type) a variant gives one of raw.SAME_ANSWER_CASES where it answers
    otherwise than the contract's JSON (nginx's, granian's or Go's own refusal); None elsewhere."""
    if variant.proxy is not None and case in PROXY_ANSWERS:
        return PROXY_ANSWERS[case]
    if variant.server == "granian":
        for id_, answers in GRANIAN_ANSWERS.values():
            if id_ == case and variant.framework in answers:
                return answers[variant.framework]
    if variant.server == "go":
        for id_, answer in GO_ANSWERS.values():
            if id_ == case:
                return answer
    return None


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
