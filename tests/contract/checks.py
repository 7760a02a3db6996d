"""Assertions every contract test shares: headers and the error body's shape."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import psycopg

from asynclab.lab import Lab
from asynclab.variants import VARIANTS, Variant
from contract import differences, raw
from contract.cases import Req

# RFC 9110's IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
IMF_FIXDATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d{2}:\d{2}:\d{2} GMT"
)
# A direct connection to the lab's Postgres (the ``db`` fixture).
Conn = psycopg.Connection[tuple[Any, ...]]
DETAIL_KEYS = {"field", "in", "type", "message"}
# Generous: long enough for any slow request of the suite, short enough that a hang fails.
CLIENT_TIMEOUT_S = 30.0
# Every service closes a connection idle for 5 s (docs/contract.md); httpx keeps one for 5 s too
# by default, so a request sent at that moment can meet the server's close ("Server
# disconnected without sending a response"). The suite's clients drop theirs well before.
CLIENT_LIMITS = httpx.Limits(keepalive_expiry=2.0)


def client(base_url: str) -> httpx.Client:
    """A client of the suite: its timeout and keep-alive (above)."""
    return httpx.Client(base_url=base_url, timeout=CLIENT_TIMEOUT_S, limits=CLIENT_LIMITS)


def service_url(lab: Lab, framework: str) -> str:
    return lab.settings.service_url(framework)


def serving(lab: Lab, framework: str) -> Variant:
    """The variant serving ``framework``'s port: the suite may run on any (ASYNCLAB_*_VARIANT)."""
    manifest = lab.manifest()
    assert manifest is not None, "the lab is not running"
    return VARIANTS[manifest["variants"][framework]["name"]]


def check_refusal(answer: raw.Answer, status: int, field: str | None) -> None:
    """A raw head's answer as the contract says: its status and, for a refusal, the JSON error
    naming ``field``."""
    assert answer.status == status, answer
    if field is None:
        return
    assert answer.media_type == "application/json", answer
    body = json.loads(answer.body)
    assert [d["field"] for d in body["detail"]] == [field], body


def check_headers(response: httpx.Response, framework: str) -> None:
    assert response.headers.get_list("server") == [f"asynclab-{framework}"]
    dates = response.headers.get_list("date")
    assert len(dates) == 1, dates
    assert IMF_FIXDATE.fullmatch(dates[0]), dates[0]


def check_json(response: httpx.Response, framework: str, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    check_headers(response, framework)
    return response.json()


def check_error(response: httpx.Response, framework: str, req: Req) -> dict[str, Any]:
    """The contract's error shape, naming the field the case expects."""
    body: dict[str, Any] = check_json(response, framework, req.status)
    assert set(body) == {"error", "detail"}, body
    assert body["error"] == req.error, body
    assert isinstance(body["detail"], list), body
    assert body["detail"], body
    for entry in body["detail"]:
        assert set(entry) == DETAIL_KEYS, entry
        assert all(isinstance(entry[k], str) for k in DETAIL_KEYS), entry
        assert entry["message"], entry
    if req.field is not None:
        named = [e for e in body["detail"] if e["field"] == req.field]
        assert named, f"no error names {req.field!r}: {body}"
        assert named[0]["in"] == req.where, body
        if req.type is not None:
            assert named[0]["type"] == req.type, body
    return body


def send(client: httpx.Client, req: Req) -> httpx.Response:
    return client.request(req.method, req.path, **req.send_kwargs())


def comparable(path: str, response: httpx.Response) -> Any:
    """What must be equal between the services (contract.differences.comparable)."""
    request = response.request
    return differences.comparable(
        path, request.method, response.status_code, response.headers, response.content
    )


def answer(c: httpx.Client, req: Req) -> tuple[int, str, Any]:
    return comparable(req.path, send(c, req))
