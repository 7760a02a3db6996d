"""Prometheus and exporters for the native lab (owned by the observability work; stub for now)."""

from __future__ import annotations

from asynclab.procs import ProcessSpec
from asynclab.settings import LabSettings


def observability_processes(settings: LabSettings) -> list[ProcessSpec]:
    """Processes that make up the lab's monitoring; empty until implemented."""
    return []
