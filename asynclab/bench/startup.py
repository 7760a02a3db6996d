"""Startup time: from a service's spawn to its first 200 on ``/readyz``, per variant.

The native lab times every start on the readiness poll it waits on anyway
(``procs.start_process``) and records ``startup_s`` with the process in ``lab.json``. The bench
collects it for each variant it serves (those the lab served when the bench began, and each
switch) into its manifest's ``startup_s``: ``{"flask-sync": [1.21, 1.18], ...}``, one figure per
start. The compose lab records none: its services start in containers, timed by nobody.
"""

from __future__ import annotations

import statistics
from typing import Any

from asynclab.bench.document import Block, Heading, Para, Table
from asynclab.procs import FIRST_POLL_S, POLL_S
from asynclab.registry import SERVICES
from asynclab.variants import get_variant

Startups = dict[str, list[float]]

READING = (
    "From the spawn of the service's process to the first HTTP 200 of its /readyz, which "
    "answers once the app has been imported and its database pool reaches Postgres; for a "
    "multi-process variant, that of its first worker ready (the others may still be starting). "
    f"The lab asks again after {FIRST_POLL_S * 1000:.0f} ms, then at doubling intervals up to "
    f"{POLL_S * 1000:.0f} ms, so a figure may be late by up to that interval. One figure per "
    "start: the lab's start when the bench found or started it, then each switch to the "
    "variant. The machine's other work slows a start as it slows a run."
)


def served(lab_manifest: dict[str, Any], framework: str) -> tuple[str, float] | None:
    """(variant, startup_s) of what the lab serves for ``framework``; None when not timed."""
    name = lab_manifest.get("variants", {}).get(framework, {}).get("name")
    seconds = (lab_manifest.get("processes", {}).get(framework) or {}).get("startup_s")
    if not isinstance(name, str) or not isinstance(seconds, int | float):
        return None
    return name, float(seconds)


def record(startups: Startups, lab_manifest: dict[str, Any], framework: str) -> None:
    """Add the start of what the lab now serves for ``framework`` to ``startups``."""
    found = served(lab_manifest, framework)
    if found is not None:
        startups.setdefault(found[0], []).append(found[1])


def record_all(startups: Startups, lab_manifest: dict[str, Any]) -> None:
    for framework in SERVICES:
        record(startups, lab_manifest, framework)


def section(manifest: dict[str, Any]) -> list[Block]:
    """A table: each variant's starts, their median and range."""
    startups: Startups = manifest.get("startup_s") or {}
    blocks: list[Block] = [Heading("Startup time")]
    if not startups:
        why = ("this set loaded external targets only, which the lab does not start"
               if manifest.get("targets") and not manifest.get("variants")
               else "the compose lab does not time its containers' starts"
               if (manifest.get("lab") or {}).get("mode") == "compose"
               else "this set was recorded before startup times were")  # fmt: skip
        return [*blocks, Para(f"Not measured: {why}.", "note")]
    rows = []
    variants = manifest.get("variants", {})
    for name, seconds in sorted(startups.items(), key=lambda kv: statistics.median(kv[1])):
        # The lab also serves variants the profile leaves out (Node's and Go's defaults).
        config = variants.get(name) or {"server": _server(name)}
        spread = f"{min(seconds):.2f}-{max(seconds):.2f}" if len(seconds) > 1 else "-"
        rows.append([name, str(config.get("server", "-")), str(config.get("processes", "-")),
                     str(len(seconds)), f"{statistics.median(seconds):.2f}", spread])  # fmt: skip
    headers = ["variant", "server", "processes", "starts", "median s", "range s"]
    return [*blocks, Para(READING, "note"), Table(headers, rows)]


def _server(name: str) -> str:
    try:
        return get_variant(name).server
    except ValueError:  # a variant of another version of the lab
        return "-"
