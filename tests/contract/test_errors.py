"""Every bad input of the table in cases.py: the contract's status and an error naming the field."""

from __future__ import annotations

import httpx
import pytest

from contract.cases import BAD_REQUESTS, Req
from contract.checks import check_error, check_json, send


@pytest.mark.parametrize("req", BAD_REQUESTS, ids=[r.id for r in BAD_REQUESTS])
def test_bad_input(client: httpx.Client, framework: str, req: Req) -> None:
    response = send(client, req)
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text
    if req.status >= 400:
        check_error(response, framework, req)
    else:
        check_json(response, framework, req.status)


def test_wait_budget_names_both_parameters(client: httpx.Client, framework: str) -> None:
    response = client.get("/fanout", params={"calls": "2", "ms": "2501"})
    body = check_json(response, framework, 422)
    assert [(d["field"], d["in"], d["type"]) for d in body["detail"]] == [
        ("calls", "query", "wait_budget"),
        ("ms", "query", "wait_budget"),
    ]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/json", "GET"),
        ("GET", "/items", "POST"),
        ("DELETE", "/items/1", "GET"),
        ("PUT", "/metrics", "HEAD"),
    ],
)
def test_method_not_allowed_says_what_is(
    client: httpx.Client, method: str, path: str, allowed: str
) -> None:
    """RFC 9110 15.5.6: a 405 lists the allowed methods in Allow."""
    response = client.request(method, path)
    assert response.status_code == 405
    methods = {m.strip() for m in response.headers.get("allow", "").split(",")}
    assert allowed in methods, response.headers
