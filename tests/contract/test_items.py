"""POST /items then GET /items/{id}: what goes in comes back, and is in the database."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from contract.cases import VALID_ITEM
from contract.checks import Conn, check_json

ACCEPTED = [
    pytest.param(VALID_ITEM, id="valid"),
    pytest.param({"name": "no tags", "price": 1, "quantity": 0}, id="tags-omitted"),
    pytest.param({"name": "n" * 100, "price": 0.01, "quantity": 10_000,
                  "tags": ["t" * 50] * 10}, id="limits"),
    pytest.param({"name": "ünïcødé ☕ フ", "price": 1e6, "quantity": 1, "tags": []}, id="unicode"),
    pytest.param({"name": "q", "price": 5e-324, "quantity": 7.0}, id="integral-quantity"),
]  # fmt: skip


@pytest.mark.parametrize("item", ACCEPTED)
def test_round_trip(client: httpx.Client, framework: str, db: Conn, item: Any) -> None:
    expected = {"tags": []} | item
    created = check_json(client.post("/items", json=item), framework, 201)
    assert set(created) == {"id", "name", "price", "quantity", "tags"}
    item_id = created.pop("id")
    assert type(item_id) is int
    assert item_id >= 1
    assert created == expected
    assert isinstance(created["price"], float)

    fetched = check_json(client.get(f"/items/{item_id}"), framework)
    assert fetched == {"id": item_id} | expected

    row = db.execute(
        "SELECT name, price, quantity, tags FROM items WHERE id = %s", (item_id,)
    ).fetchone()
    assert row == (expected["name"], expected["price"], expected["quantity"], expected["tags"])


def test_ids_are_new(client: httpx.Client) -> None:
    ids = {client.post("/items", json=VALID_ITEM).json()["id"] for _ in range(3)}
    assert len(ids) == 3
