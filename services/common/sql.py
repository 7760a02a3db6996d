"""Every statement both services run, written once in Postgres' native ``$n`` form.

asyncpg takes them as they are; psycopg takes ``%s`` placeholders, so ``pyformat()`` converts.
The conversion is exact only when ``$1, $2, ...`` appear in that order, so it refuses any other.
"""

from __future__ import annotations

import re

PING = "SELECT 1"
SELECT_WORLD = "SELECT id, randomnumber FROM world WHERE id = $1"
UPDATE_WORLD = "UPDATE world SET randomnumber = $1 WHERE id = $2"
SELECT_FORTUNES = "SELECT id, message FROM fortune"
SLEEP = "SELECT pg_sleep($1)"
INSERT_ITEM = (
    "INSERT INTO items (name, price, quantity, tags) VALUES ($1, $2, $3, $4) "
    "RETURNING id, name, price, quantity, tags"
)
SELECT_ITEM = "SELECT id, name, price, quantity, tags FROM items WHERE id = $1"

_PLACEHOLDER = re.compile(r"\$\d+")


def pyformat(statement: str) -> str:
    """``"... WHERE id = $1"`` -> ``"... WHERE id = %s"``."""
    found = [int(m[1:]) for m in _PLACEHOLDER.findall(statement)]
    if found != list(range(1, len(found) + 1)):
        raise ValueError(f"placeholders must be $1, $2, ... in order: {statement!r}")
    return _PLACEHOLDER.sub("%s", statement)
