"""Startup times: what the bench takes from the lab's record, and the report's table."""

from __future__ import annotations

from typing import Any

from asynclab.bench import startup
from asynclab.bench.document import Block, Para, Table

MANIFEST: dict[str, Any] = {
    "variants": {
        "flask-sync": {"server": "gunicorn", "processes": 3},
        "fastapi-async": {"server": "uvicorn", "processes": 1},
    }
}


def texts(blocks: list[Block]) -> str:
    return " ".join(b.text for b in blocks if isinstance(b, Para))


def test_startup_table_gives_each_variants_starts() -> None:
    starts = {"flask-sync": [1.4, 1.2, 1.3], "fastapi-async": [0.8], "go-single": [0.05]}
    blocks = startup.section({**MANIFEST, "startup_s": starts})
    assert "first HTTP 200 of its /readyz" in texts(blocks)
    [table] = [b for b in blocks if isinstance(b, Table)]
    assert table.rows == [
        # Served by the lab beside the profile's variants: no configuration in the manifest.
        ["go-single", "go", "-", "1", "0.05", "-"],
        ["fastapi-async", "uvicorn", "1", "1", "0.80", "-"],
        ["flask-sync", "gunicorn", "3", "3", "1.30", "1.20-1.40"],
    ]
    assert "compose lab does not time" in texts(startup.section({"lab": {"mode": "compose"}}))
    assert "recorded before startup times" in texts(startup.section({}))


def test_the_bench_records_what_the_lab_timed() -> None:
    lab = {"variants": {"flask": {"name": "flask-sync"}, "fastapi": {"name": "fastapi-async"}},
           "processes": {"flask": {"startup_s": 1.25}, "fastapi": {}}}  # fmt: skip
    found: startup.Startups = {"flask-sync": [1.5]}
    startup.record_all(found, lab)
    # An untimed start (compose, a lab.json written before the field) adds nothing.
    assert found == {"flask-sync": [1.5, 1.25]}
