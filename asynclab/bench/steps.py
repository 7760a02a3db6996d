"""The step ramp's arithmetic, apart from Locust (importing Locust monkey-patches the process).

``step_at([1, 8, 32], hold_s=10, run_time=25) == 32``; past the last level it is None.
"""

from __future__ import annotations


def parse_levels(text: str) -> list[int]:
    """``"1, 8,32"`` -> ``[1, 8, 32]``; levels must be positive."""
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        levels = []
    if not levels or min(levels) < 1:
        raise ValueError(f"step levels must be positive integers, got {text!r}")
    return levels


def step_at(levels: list[int], hold_s: float, run_time: float) -> int | None:
    """Users at ``run_time`` seconds into the ramp, or None once every level was held."""
    step = int(run_time // hold_s)
    return levels[step] if step < len(levels) else None
