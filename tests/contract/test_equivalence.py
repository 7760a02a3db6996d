"""Every service answers every request of the shared table alike: status, content type and body.

Values random by design are removed first (contract/differences.py): World ids and numbers,
item ids, and /fanout's timing and mode. Everything else must match byte for byte, as
docs/contract.md promises.
"""

from __future__ import annotations

import httpx
import pytest

from contract.cases import BAD_REQUESTS, GOOD_REQUESTS, VALID_ITEM, Req
from contract.checks import answer

TABLE = GOOD_REQUESTS + BAD_REQUESTS


@pytest.mark.parametrize("req", TABLE, ids=[r.id for r in TABLE])
def test_same_answer(clients: dict[str, httpx.Client], req: Req) -> None:
    first, *others = (answer(c, req) for c in clients.values())
    for other in others:
        assert other == first


def test_same_stored_item(clients: dict[str, httpx.Client]) -> None:
    """GET /items/{id} of an item each service created itself: the same but for the id."""
    answers = []
    for c in clients.values():
        item_id = c.post("/items", json=VALID_ITEM).json()["id"]
        response = c.get(f"/items/{item_id}")
        assert response.status_code == 200
        assert response.content.startswith(b'{"id":%d,' % item_id), response.content
        answers.append(response.content.split(b",", 1)[1])
    assert answers == answers[:1] * len(answers)


def test_same_item_from_every_service(clients: dict[str, httpx.Client]) -> None:
    """One stored item, read through each service: byte for byte the same."""
    item_id = next(iter(clients.values())).post("/items", json=VALID_ITEM).json()["id"]
    first, *others = (c.get(f"/items/{item_id}") for c in clients.values())
    assert first.status_code == 200
    for other in others:
        assert (other.status_code, other.content) == (200, first.content)
