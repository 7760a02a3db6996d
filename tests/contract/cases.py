"""The request table shared by the error tests and the equivalence tests.

Adding a bad-input case = adding one line here: ``test_errors`` checks its status and the
field its error names, ``test_equivalence`` checks both services answer it byte for byte alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from asynclab.registry import SERVICES

FRAMEWORKS = list(SERVICES)
MAX_BODY = 65536
VALID_ITEM: dict[str, Any] = {"name": "widget", "price": 9.99, "quantity": 3, "tags": ["a", "b"]}


@dataclass(frozen=True)
class Req:
    """One request, and what the contract says comes back.

    ``field``/``where`` are the first error's ``field`` and ``in``; None when the contract does
    not pin them (then only the status and the error shape are checked).
    """

    id: str
    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 200
    error: str | None = None
    field: str | None = None
    where: str | None = None
    type: str | None = None

    def send_kwargs(self) -> dict[str, Any]:
        return {"params": self.params, "content": self.content, "headers": self.headers}


def post_json(id: str, body: Any, status: int = 201, **expect: Any) -> Req:
    return Req(
        id, "POST", "/items", content=json.dumps(body).encode(),
        headers={"content-type": "application/json"}, status=status, **expect,
    )  # fmt: skip


def bad_item(id: str, field_name: str, type: str | None = None, **changes: Any) -> Req:
    """VALID_ITEM with some keys changed (``...`` removes the key): a 422 naming one field."""
    body = {k: v for k, v in (VALID_ITEM | changes).items() if v is not ...}
    return post_json(
        id, body, 422, error="validation_error", field=field_name, where="body", type=type
    )


def padded_item(size: int) -> bytes:
    """A JSON item of exactly ``size`` bytes whose name is too long (so never a 201)."""
    head, tail = b'{"price": 1, "quantity": 1, "name": "', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


# (route, parameter, minimum, maximum) of every strictly validated integer query parameter.
INT_PARAMS = [
    ("/cpu/python", "work", 1, 10_000_000),
    ("/cpu/native", "work", 1, 1_000_000),
    ("/io/db", "ms", 0, 5000),
    ("/io/upstream", "ms", 0, 5000),
    ("/io/sleep", "ms", 0, 5000),
    ("/fanout", "calls", 1, 50),
    ("/fanout", "ms", 0, 5000),
    ("/pitfall/blocking", "ms", 0, 5000),
]


def wait_budget_cases() -> list[Req]:
    """/fanout past calls x ms <= 5000: one 422 naming both parameters (each checked)."""
    over = {"calls": "50", "ms": "101"}
    return [
        Req(f"/fanout-over-budget-{name}", "GET", "/fanout", params=over, status=422,
            error="validation_error", field=name, where="query", type="wait_budget")
        for name in ("calls", "ms")
    ] + [
        Req("/fanout-far-over-budget", "GET", "/fanout", params={"calls": "50", "ms": "5000"},
            status=422, error="validation_error", field="calls", where="query",
            type="wait_budget"),
    ]  # fmt: skip


def query_cases() -> list[Req]:
    cases = []
    for path, name, low, high in INT_PARAMS:
        for label, value, kind in [
            ("abc", "abc", "int_parsing"),
            ("float", "1.5", "int_parsing"),
            ("empty", "", "int_parsing"),
            ("below", str(low - 1), "greater_than_equal"),
            ("above", str(high + 1), "less_than_equal"),
            ("huge", "9" * 30, "less_than_equal"),
        ]:
            cases.append(
                Req(f"{path}?{name}={label}", "GET", path, params={name: value}, status=422,
                    error="validation_error", field=name, where="query", type=kind)
            )  # fmt: skip
    return cases


def item_id_cases() -> list[Req]:
    def bad(label: str, raw: str, kind: str) -> Req:
        return Req(f"/items/{label}", "GET", f"/items/{raw}", status=422,
                   error="validation_error", field="id", where="path", type=kind)  # fmt: skip

    return [
        bad("0", "0", "greater_than_equal"),
        bad("-1", "-1", "greater_than_equal"),
        bad("abc", "abc", "int_parsing"),
        bad("1.5", "1.5", "int_parsing"),
        bad("2^31", str(2**31), "less_than_equal"),
        Req("/items/not-found", "GET", f"/items/{2**31 - 1}", status=404, error="not_found",
            field="id", where="path"),
    ]  # fmt: skip


def body_cases() -> list[Req]:
    def raw(id: str, content: bytes, status: int, ctype: str | None = "application/json",
            **expect: Any) -> Req:  # fmt: skip
        headers = {"content-type": ctype} if ctype else {}
        return Req(id, "POST", "/items", content=content, headers=headers, status=status, **expect)

    valid = json.dumps(VALID_ITEM).encode()
    malformed = {"error": "malformed_json", "field": "body", "where": "body"}
    unsupported = {"error": "unsupported_media_type", "field": "content-type", "where": "header"}
    price_nan = b'{"name": "w", "price": NaN, "quantity": 1}'
    return [
        bad_item("name-empty", "name", name=""),
        bad_item("name-101", "name", name="x" * 101),
        bad_item("name-missing", "name", name=...),
        bad_item("name-number", "name", name=5),
        bad_item("price-0", "price", price=0),
        bad_item("price--1", "price", price=-1),
        bad_item("price-x", "price", price="x"),
        bad_item("price-null", "price", price=None),
        bad_item("price-missing", "price", price=...),
        raw("price-nan", price_nan, 422, error="validation_error", field="price", where="body"),
        bad_item("quantity--1", "quantity", quantity=-1),
        bad_item("quantity-10001", "quantity", quantity=10001),
        bad_item("quantity-1.5", "quantity", quantity=1.5),
        bad_item("quantity-string", "quantity", quantity="5"),
        bad_item("quantity-missing", "quantity", quantity=...),
        bad_item("tags-11", "tags", tags=[f"t{i}" for i in range(11)]),
        bad_item("tag-51", "tags.3", tags=["a", "b", "c", "x" * 51]),
        bad_item("tag-empty", "tags.0", tags=[""]),
        bad_item("tag-number", "tags.1", tags=["a", 1]),
        bad_item("tags-string", "tags", tags="a"),
        bad_item("name-nul", "name", name="a\x00b", type="string_contains_nul"),
        bad_item("tag-nul", "tags.1", tags=["a", "\x00"], type="string_contains_nul"),
        bad_item("quantity-true", "quantity", quantity=True),
        post_json("quantity-3.0", VALID_ITEM | {"quantity": 3.0}),
        bad_item("price-10^400", "price", price=10**400, type="finite_number"),
        bad_item("quantity-10^400", "quantity", quantity=10**400, type="less_than_equal"),
        # Past ~4300 digits the JSON parser gives up on a number: malformed, not a 5xx.
        raw("quantity-5000-digits", b'{"name": "w", "price": 1, "quantity": 1' + b"0" * 5000
            + b"}", 400, **malformed),
        bad_item("extra-key", "color", color="red"),
        post_json("body-list", [VALID_ITEM], 422, error="validation_error"),
        raw("json-truncated", b'{"name": ', 400, **malformed),
        raw("json-empty", b"", 400, **malformed),
        raw("json-not-utf8", b'{"name": "\xff\xfe"}', 400, **malformed),
        # Valid JSON grammar, but no Unicode text: a lone surrogate cannot be stored either.
        raw("json-lone-surrogate", b'{"name": "\\ud800", "price": 1, "quantity": 1}', 400,
            **malformed),
        raw("ctype-text", valid, 415, "text/plain", **unsupported),
        raw("ctype-form", b"name=w&price=1&quantity=1", 415,
            "application/x-www-form-urlencoded", **unsupported),
        raw("ctype-missing", valid, 415, None, **unsupported),
        raw("body-65537", padded_item(MAX_BODY + 1), 413, error="payload_too_large",
            field="body", where="body"),
        raw("body-65536", padded_item(MAX_BODY), 422, error="validation_error",
            field="name", where="body"),
        raw("ctype-charset", valid, 201, "application/json; charset=utf-8"),
    ]  # fmt: skip


def route_cases() -> list[Req]:
    def unknown(id: str, path: str, method: str = "GET") -> Req:
        return Req(id, method, path, status=404, error="not_found", field="path", where="path")

    def wrong(method: str, path: str) -> Req:
        return Req(f"{method}-{path}", method, path, status=405, error="method_not_allowed",
                   field="method", where="request")  # fmt: skip

    return [
        unknown("unknown", "/nope"),
        unknown("unknown-nested", "/items/1/extra"),
        unknown("trailing-slash", "/json/"),
        unknown("items-slash", "/items/"),
        # Flask's own static route is not served: nothing under /static, whatever the method.
        unknown("static", "/static/app.css"),
        unknown("POST-static", "/static/app.css", "POST"),
        unknown("OPTIONS-static", "/static/app.css", "OPTIONS"),
        wrong("POST", "/json"),
        wrong("PUT", "/db"),
        wrong("DELETE", "/items/1"),
        wrong("GET", "/items"),
        wrong("PATCH", "/fortunes"),
        wrong("PUT", "/metrics"),
        wrong("OPTIONS", "/json"),
        wrong("TRACE", "/json"),
        wrong("PROPFIND", "/json"),
    ]


BAD_REQUESTS = query_cases() + wait_budget_cases() + item_id_cases() + body_cases() + route_cases()

# Successful requests; their bodies are compared after removing values random by design.
GOOD_REQUESTS = [
    Req("json", "GET", "/json"),
    Req("plaintext", "GET", "/plaintext"),
    Req("db", "GET", "/db"),
    Req("queries", "GET", "/queries", params={"queries": "7"}),
    Req("queries-abc", "GET", "/queries", params={"queries": "abc"}),
    Req("queries-0", "GET", "/queries", params={"queries": "0"}),
    Req("updates", "GET", "/updates", params={"queries": "3"}),
    Req("fortunes", "GET", "/fortunes"),
    Req("cpu-python", "GET", "/cpu/python", params={"work": "1000"}),
    Req("cpu-native", "GET", "/cpu/native", params={"work": "1000"}),
    Req("io-db", "GET", "/io/db", params={"ms": "0"}),
    Req("io-upstream", "GET", "/io/upstream", params={"ms": "0"}),
    Req("io-sleep", "GET", "/io/sleep", params={"ms": "0"}),
    Req("fanout", "GET", "/fanout", params={"calls": "3", "ms": "0"}),
    Req("pitfall", "GET", "/pitfall/blocking", params={"ms": "0"}),
    Req("healthz", "GET", "/healthz"),
    Req("readyz", "GET", "/readyz"),
    post_json("items", VALID_ITEM),
    # Not in the contract's table, but HTTP requires HEAD wherever GET is served (RFC 9110 9.1).
    Req("HEAD-json", "HEAD", "/json"),
    Req("HEAD-metrics", "HEAD", "/metrics"),
    Req("openapi", "GET", "/openapi.json"),
]
