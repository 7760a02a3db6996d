"""flask-sync-nginx answers what flask-sync answers, where nginx reads the request first.

nginx is configured to leave the judging to gunicorn (services/proxy.py): the head limits and
the server's own refusals come out as without nginx, except a repeated ``Host`` and a ``TRACE``,
which nginx answers itself (docs/contract.md).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from asynclab.lab import Lab
from contract import differences, raw
from contract.cases import BAD_REQUESTS, GOOD_REQUESTS
from contract.checks import (
    CLIENT_LIMITS,
    CLIENT_TIMEOUT_S,
    check_refusal,
    send,
    service_url,
    serving,
)

CASES = [case for case in raw.SAME_ANSWER_CASES if case[0] not in differences.PROXY_ANSWERS]


@pytest.fixture(scope="module")
def proxied(lab: Lab) -> Iterator[str]:
    """The Flask port served by flask-sync-nginx for this module."""
    lab.switch("flask", "flask-sync-nginx")
    try:
        yield service_url(lab, "flask")
    finally:
        lab.switch("flask", lab.settings.variant("flask"))


@pytest.mark.parametrize(
    ("id", "request_", "status", "field"), CASES, ids=[case[0] for case in CASES]
)
def test_head_limits_are_gunicorns(
    lab: Lab, proxied: str, id: str, request_: bytes, status: int, field: str | None
) -> None:
    answer = raw.exchange(proxied, request_)
    check_refusal(answer, status, field)
    assert answer.headers["server"] == "asynclab-flask"
    if differences.own_answer(serving(lab, "fastapi"), id) is None:
        reference = raw.exchange(service_url(lab, "fastapi"), request_)  # = flask-sync's, tested
        assert (answer.media_type, answer.body) == (reference.media_type, reference.body)


@pytest.mark.parametrize("id", list(differences.SERVER_ANSWERS))
def test_server_answers_are_flask_syncs(proxied: str, id: str) -> None:
    request_, expected = differences.SERVER_ANSWERS[id]
    answer = raw.exchange(proxied, request_)
    assert (answer.status, answer.media_type) == expected["gunicorn"], answer


@pytest.mark.parametrize("id", list(differences.PROXY_ANSWERS))
def test_what_nginx_refuses_itself(proxied: str, id: str) -> None:
    request_ = next(case[1] for case in raw.SAME_ANSWER_CASES if case[0] == id)
    answer = raw.exchange(proxied, request_)
    assert (answer.status, answer.media_type) == differences.PROXY_ANSWERS[id], answer


@pytest.mark.parametrize("id", list(differences.PROXY_REQUESTS))
def test_what_nginx_answers_itself(proxied: str, id: str) -> None:
    req = next(req for req in GOOD_REQUESTS + BAD_REQUESTS if req.id == id)
    with httpx.Client(base_url=proxied, timeout=CLIENT_TIMEOUT_S, limits=CLIENT_LIMITS) as client:
        response = send(client, req)
    media_type = response.headers.get("content-type", "")
    assert (response.status_code, media_type) == differences.PROXY_REQUESTS[id], response.text
