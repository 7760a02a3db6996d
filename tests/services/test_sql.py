"""The SQL both services run: one text, and a conversion for psycopg that cannot reorder."""

from __future__ import annotations

import re

import pytest

from asynclab.settings import ROOT
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


# The reference services restate the statements in their own language: the same text, checked.
REFERENCE_SQL = {"node": "services/node/src/sql.js", "go": "services/go/db.go"}


def _literals(source: str) -> str:
    """The source with adjacent string literals joined (``'a ' +\\n 'b'`` and ``"a " +\\n\\t"b"``
    read ``a b``), so that a statement split over lines is found whole."""
    return re.sub(r"""(['"])\s*\+\s*\n\s*\1""", "", source)


@pytest.mark.parametrize("service", list(REFERENCE_SQL))
def test_reference_services_run_the_same_statements(service: str) -> None:
    source = _literals((ROOT / REFERENCE_SQL[service]).read_text())
    statements = {n: v for n, v in vars(sql).items() if n.isupper() and isinstance(v, str)}
    assert statements, "services/common/sql.py names no statement"
    for name, text in statements.items():
        assert f"'{text}'" in source or f'"{text}"' in source, (
            f"{REFERENCE_SQL[service]} must run sql.{name} word for word: {text!r}"
        )
