"""The bench's targets, judged on crafted cells: the right ceiling, and flagged runs left out."""

from __future__ import annotations

from typing import Any

from asynclab.bench.targets import io_ceiling, wrk_agreement
from asynclab.bench.verdicts import cells


def row(variant: str, ok_rps: float, tool: str = "locust", **extra: Any) -> dict[str, Any]:
    return {"scenario": "io_db", "variant": variant, "users": 64, "repetition": 1,
            "tool": tool, "rps": ok_rps, "ok_rps": ok_rps, "flags": [], **extra}  # fmt: skip


def test_io_target_is_judged_against_the_littles_law_ceiling() -> None:
    # CPU-bound at 98 rps: 98% of its measured CPU capacity, but 31% of what its slots allow.
    rows = [
        row("fastapi-async", 98, ceiling_rps=100, ceiling_kind="cpu", slot_ceiling_rps=320),
        row("flask-sync", 58, ceiling_rps=60, ceiling_kind="slots", slot_ceiling_rps=60),
    ]
    target = io_ceiling(cells(rows))
    assert target.met is False
    assert "fastapi-async 31% of 320 rps at 64 users" in target.detail
    assert "flask-sync 97% of 60 rps" in target.detail


def test_io_target_with_a_variant_never_judged_is_not_met() -> None:
    rows = [
        row("fastapi-async", 318, slot_ceiling_rps=320, flags=["errors"]),
        row("flask-sync", 58, slot_ceiling_rps=60),
    ]
    target = io_ceiling(cells(rows))
    assert target.met is False
    assert "not judged: every run flagged, errors above 1% in 1 run" in target.detail


def test_wrk_agreement_leaves_out_flagged_cells() -> None:
    rows = [
        row("fastapi-async", 200, flags=["generator_bound"]),
        row("fastapi-async", 300, tool="wrk"),
        row("flask-sync", 57),
        row("flask-sync", 58, tool="wrk"),
    ]
    target = wrk_agreement(cells(rows))
    assert target.met is True
    assert "(not judged: locust above 80% of the generator's ceiling" in target.detail
