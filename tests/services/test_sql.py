"""The SQL both services run: one text, and a conversion for psycopg that cannot reorder."""

from __future__ import annotations

import pytest

from services.common import sql


@pytest.mark.parametrize(
    "name", [n for n in dir(sql) if n.isupper() and isinstance(getattr(sql, n), str)]
)
def test_every_statement_converts_for_psycopg(name: str) -> None:
    statement = getattr(sql, name)
    converted = sql.pyformat(statement)
    assert "$" not in converted
    assert converted.count("%s") == statement.count("$")


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("SELECT 1", "SELECT 1"),
        ("UPDATE t SET a = $1 WHERE id = $2", "UPDATE t SET a = %s WHERE id = %s"),
    ],
)
def test_pyformat(statement: str, expected: str) -> None:
    assert sql.pyformat(statement) == expected


def test_pyformat_refuses_placeholders_out_of_order() -> None:
    # Converting "$2 ... $1" to "%s ... %s" would silently swap the parameters.
    with pytest.raises(ValueError, match="in order"):
        sql.pyformat("UPDATE world SET randomnumber = $2 WHERE id = $1")
