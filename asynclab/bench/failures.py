"""What kind of failure each of Locust's failed requests was, from its error text.

Locust names a failure by its error: the exception of a connection that failed
(``ConnectionRefusedError(111, 'Connection refused')``, ``ConnectionResetError(...)``,
``timeout('timed out')``), or the text a scenario's check wrote (``status 503: ...``,
``expected {"ms": 50}, got ...``). Counted by kind, they tell what a server did with the
connections it could not serve: refused them, reset them, or let them wait until the client
gave up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

Kind = Literal["refused", "reset", "timeout", "status", "answer", "other"]
# The first kind whose words the error contains, in this order: a reset connection that
# "timed out" reading is a timeout.
WORDS: tuple[tuple[Kind, tuple[str, ...]], ...] = (
    ("refused", ("connectionrefused", "connection refused")),
    ("timeout", ("timeout", "timed out")),
    ("reset", ("connectionreset", "connection reset", "brokenpipe", "broken pipe",
               "connectionclosed", "connection closed", "remotedisconnected",
               "connectionaborted")),
    ("status", ("status ",)),
    ("answer", ("expected ", "not json")),
)  # fmt: skip
# (one, several) of each kind.
TEXT: dict[str, tuple[str, str]] = {
    "refused": ("connection refused", "connections refused"),
    "reset": ("connection reset or closed", "connections reset or closed"),
    "timeout": ("timed out (the client gave up waiting)",) * 2,
    "status": ("error status", "error statuses"),
    "answer": ("wrong answer", "wrong answers"),
    "other": ("other error", "other errors"),
}


def kind_of(error: str) -> Kind:
    """``kind_of("ConnectionRefusedError(111, 'Connection refused')") == "refused"``."""
    lowered = error.lower()
    for kind, words in WORDS:
        if any(word in lowered for word in words):
            return kind
    return "other"


def by_kind(errors: Mapping[str, int]) -> dict[str, int]:
    """Failed requests by kind (only the kinds that occurred), from Locust's error counts."""
    found: dict[str, int] = {}
    for error, count in errors.items():
        kind = kind_of(error)
        found[kind] = found.get(kind, 0) + int(count)
    return found


def text(kinds: Mapping[str, int]) -> str:
    """``"1 connection reset or closed, 120 timed out (the client gave up waiting)"``."""
    order = list(TEXT)
    parts = sorted(kinds.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99)
    return ", ".join(f"{n:,} {TEXT.get(k, (k, k))[n != 1]}" for k, n in parts if n) or "none"
