"""What test_fuzz.py did, counted as it runs and printed at the end of the session."""

from __future__ import annotations

from collections import Counter

FUZZ: Counter[str] = Counter()


def summary() -> list[str]:
    return [f"  {key}: {FUZZ[key]}" for key in sorted(FUZZ)]
