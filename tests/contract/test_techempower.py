"""TechEmpower's six test types, by their public requirements, against both services."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
import pytest

from contract.checks import Conn, check_headers, check_json

ADDED_FORTUNE = (0, "Additional fortune added at request time.")
FORTUNES_HEAD = (
    "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>"
    "<tr><th>id</th><th>message</th></tr>"
)
FORTUNES_TAIL = "</table></body></html>"
# Text where every "&" starts a character reference.
ESCAPED_TEXT = re.compile(r"(?:[^&]|&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);)*")
FORTUNE_ROW = re.compile(r"<tr><td>(\d+)</td><td>([^<]*)</td></tr>")


def check_world(obj: Any) -> tuple[int, int]:
    assert isinstance(obj, dict), obj
    assert set(obj) == {"id", "randomNumber"}, obj
    row_id, number = obj["id"], obj["randomNumber"]
    assert type(row_id) is int, obj
    assert type(number) is int, obj
    assert 1 <= row_id <= 10_000, obj
    assert 1 <= number <= 10_000, obj
    return row_id, number


def stored(db: Conn, ids: list[int]) -> dict[int, int]:
    rows = db.execute("SELECT id, randomnumber FROM world WHERE id = ANY(%s)", (ids,)).fetchall()
    return dict(rows)


def test_json(client: httpx.Client, framework: str) -> None:
    assert check_json(client.get("/json"), framework) == {"message": "Hello, World!"}


def test_plaintext(client: httpx.Client, framework: str) -> None:
    response = client.get("/plaintext")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.content == b"Hello, World!"
    check_headers(response, framework)


def test_db_is_a_stored_row(client: httpx.Client, framework: str, db: Conn) -> None:
    row_id, number = check_world(check_json(client.get("/db"), framework))
    assert stored(db, [row_id]) == {row_id: number}


@pytest.mark.parametrize(
    ("raw", "count"),
    [
        (None, 1),
        ("", 1),
        ("abc", 1),
        ("1.5", 1),
        ("0", 1),
        ("-3", 1),
        ("1", 1),
        ("20", 20),
        ("500", 500),
        ("501", 500),
        ("99999999999999999999", 500),
    ],
)
def test_queries_are_clamped(
    client: httpx.Client, framework: str, raw: str | None, count: int
) -> None:
    params = {} if raw is None else {"queries": raw}
    rows = check_json(client.get("/queries", params=params), framework)
    assert isinstance(rows, list)
    assert len(rows) == count
    for row in rows:
        check_world(row)


def test_queries_are_stored_rows(client: httpx.Client, framework: str, db: Conn) -> None:
    rows = [check_world(r) for r in check_json(client.get("/queries?queries=20"), framework)]
    assert stored(db, [i for i, _ in rows]) == dict(rows)


@pytest.mark.parametrize(("raw", "count"), [(None, 1), ("abc", 1), ("0", 1), ("501", 500)])
def test_updates_are_clamped(
    client: httpx.Client, framework: str, raw: str | None, count: int
) -> None:
    params = {} if raw is None else {"queries": raw}
    rows = check_json(client.get("/updates", params=params), framework)
    assert len(rows) == count
    for row in rows:
        check_world(row)


def test_updates_write_the_new_numbers(client: httpx.Client, framework: str, db: Conn) -> None:
    before: dict[int, int] = dict(db.execute("SELECT id, randomnumber FROM world").fetchall())
    rows = [check_world(r) for r in check_json(client.get("/updates?queries=50"), framework)]
    assert len(rows) == 50
    answered: dict[int, set[int]] = {}
    for row_id, number in rows:
        answered.setdefault(row_id, set()).add(number)
    after = stored(db, list(answered))
    # An id drawn twice in one request is written twice; the last write is one of the answers.
    assert all(after[i] in numbers for i, numbers in answered.items()), (answered, after)
    assert any(after[i] != before[i] for i in answered), "no row changed"


def parse_fortunes(page: str) -> list[tuple[int, str]]:
    """The exact TechEmpower table (whitespace between tags allowed), as (id, raw cell) rows."""
    compact = re.sub(r">\s+<", "><", page.strip())
    assert compact.startswith(FORTUNES_HEAD), compact[:200]
    assert compact.endswith(FORTUNES_TAIL), compact[-200:]
    table = compact[len(FORTUNES_HEAD) : -len(FORTUNES_TAIL)]
    rows = [(int(m[1]), m[2]) for m in FORTUNE_ROW.finditer(table)]
    assert "".join(m[0] for m in FORTUNE_ROW.finditer(table)) == table, "unexpected markup"
    return rows


def test_fortunes(client: httpx.Client, framework: str, db: Conn) -> None:
    response = client.get("/fortunes")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    check_headers(response, framework)
    rows = parse_fortunes(response.text)

    seeded = db.execute("SELECT id, message FROM fortune").fetchall()
    expected = sorted([*seeded, ADDED_FORTUNE], key=lambda row: row[1])
    assert [(i, html.unescape(cell)) for i, cell in rows] == expected
    # Every message escaped: no cell holds a character that HTML would read as markup.
    for _, cell in rows:
        assert not set(cell) & set("<>\"'"), cell
        assert ESCAPED_TEXT.fullmatch(cell), cell


def test_fortunes_escape_the_script(client: httpx.Client) -> None:
    page = client.get("/fortunes").text
    assert "<script>" not in page
    assert "&lt;script&gt;alert(" in page
    assert "フレームワークのベンチマーク" in page
