"""The CPU workloads and the TechEmpower logic that is the same in every service."""

from __future__ import annotations

import hashlib
import random
from typing import Any

from markupsafe import escape

WORLD_ROWS = 10_000
ADDED_FORTUNE = (0, "Additional fortune added at request time.")


def cpu_python(steps: int) -> int:
    """Pure-Python LCG: holds the GIL for the whole loop. ``cpu_python(3) == 662824084``."""
    x = 1
    for _ in range(steps):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
    return x


def cpu_native(iterations: int) -> str:
    """PBKDF2 in OpenSSL, which releases the GIL while it runs, so threads scale."""
    return hashlib.pbkdf2_hmac("sha256", b"asynclab", b"salt", iterations).hex()


def clamp_queries(raw: str | None) -> int:
    """TechEmpower's rule: a non-integer or missing value is 1; clamp to 1..500."""
    try:
        n = int(raw) if raw is not None else 1
    except ValueError:
        return 1
    return min(max(n, 1), 500)


def random_ids(n: int) -> list[int]:
    """Distinct ids, sorted so that concurrent /updates lock rows in one order (no deadlock)."""
    return sorted(random.sample(range(1, WORLD_ROWS + 1), n))


def random_number() -> int:
    return random.randint(1, WORLD_ROWS)


def new_random_number(old: int) -> int:
    """A new value that differs from the old one, so every update really changes the row."""
    value = random.randint(1, WORLD_ROWS - 1)
    return value + 1 if value >= old else value


def render_fortunes(rows: list[tuple[int, str]]) -> str:
    fortunes = [*rows, ADDED_FORTUNE]
    fortunes.sort(key=lambda row: row[1])
    body = "".join(f"<tr><td>{i}</td><td>{escape(m)}</td></tr>" for i, m in fortunes)
    return (
        "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>"
        f"<tr><th>id</th><th>message</th></tr>{body}</table></body></html>"
    )


def item_payload(row: Any) -> dict[str, Any]:
    """An ``items`` row (id, name, price, quantity, tags) as the API returns it."""
    return {
        "id": row[0],
        "name": row[1],
        "price": row[2],
        "quantity": row[3],
        "tags": list(row[4]),
    }
