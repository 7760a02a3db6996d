"""Processes the lab starts: what to run (ProcessSpec) and how to start, watch and stop them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ProcessSpec:
    """One long-running program of the lab.

    ``ready_url`` is polled (HTTP 200) before the lab counts the process as started;
    ``cpus`` is a taskset list, or None to leave the process unpinned.
    """

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    ready_url: str | None = None
    port: int | None = None
    cpus: str | None = None
    required: bool = True
