#!/usr/bin/env python3
"""Every service variant on ``/json`` and ``/io/db?ms=50`` at 64 connections, measured with wrk.

Starts its own native lab (free ports, temporary state dir), switches the Flask and FastAPI
ports through every variant, and for each route runs wrk pinned to the generator CPU: a
warm-up, then ``--repeats`` measured windows. Prints a Markdown table of the median requests
per second with its range, the Little's-law ceiling of ``/io/db`` and the CPU plan, and writes
the same figures as JSON.

    .venv/bin/python scripts/bench_variants.py --duration 10 --repeats 3

Heavy: it saturates the service core for about (7 variants x 2 routes x (warm-up + repeats x
duration)) seconds. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from asynclab.bench.wrk import available, run_wrk
from asynclab.lab import Lab
from asynclab.procs import isolated_settings, taskset_prefix
from asynclab.settings import ROOT
from asynclab.variants import VARIANTS

CONNECTIONS = 64
WAIT_S = 0.05
ROUTES = ("/json", f"/io/db?ms={int(WAIT_S * 1000)}")


def measure(args: argparse.Namespace, state: Path) -> dict[str, Any]:
    lab = Lab(isolated_settings(state))
    settings = lab.settings
    taskset = tuple(taskset_prefix(settings.generator_cpus, settings))
    rows: list[dict[str, Any]] = []
    manifest = lab.up()
    try:
        for variant in VARIANTS.values():
            lab.switch(variant.framework, variant.name)
            pid = lab.manifest()["processes"][variant.framework]["pid"]  # type: ignore[index]
            base = settings.url(getattr(settings, f"{variant.framework}_port"))
            for route in ROUTES:
                runs = [
                    run_wrk(
                        base + route,
                        CONNECTIONS,
                        args.duration,
                        args.warmup if i == 0 else 0,
                        state / "wrk" / f"{variant.name}{route.replace('/', '_')}-{i}.txt",
                        taskset=taskset,
                        service_pid=pid,
                    )
                    for i in range(args.repeats)
                ]
                rps = [r.rps for r in runs]
                slots = min(CONNECTIONS, variant.db_slots(settings))
                rows.append(
                    {
                        "variant": variant.name,
                        "route": route,
                        "connections": CONNECTIONS,
                        "rps_median": statistics.median(rps),
                        "rps_min": min(rps),
                        "rps_max": max(rps),
                        "errors": sum(r.errors for r in runs),
                        "p99_ms_median": statistics.median(r.p99_ms or 0.0 for r in runs),
                        "generator_cpu_max": max(r.generator_cpu or 0.0 for r in runs),
                        "ceiling_rps": slots / WAIT_S if route.startswith("/io/db") else None,
                        "config": variant.config(settings),
                    }
                )
                print(_line(rows[-1]), file=sys.stderr, flush=True)
    finally:
        lab.down()
    return {"cpu_plan": manifest.get("cpu_plan"), "rows": rows}


def _line(row: dict[str, Any]) -> str:
    ceiling = row["ceiling_rps"]
    return (
        f"| {row['variant']} | `{row['route']}` | {row['rps_median']:,.0f} "
        f"({row['rps_min']:,.0f}-{row['rps_max']:,.0f}) | "
        + (f"{ceiling:,.0f} ({row['rps_median'] / ceiling:.0%})" if ceiling else "-")
        + f" | {row['p99_ms_median']:,.1f} | {row['generator_cpu_max']:.0%} | {row['errors']} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per cell")
    parser.add_argument("--repeats", type=int, default=3, help="measured runs per cell")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "variants-wrk.json")
    args = parser.parse_args()
    if not available():
        print(
            "wrk not found: install the Debian package wrk (apt-get install wrk)", file=sys.stderr
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="asynclab-variants-") as tmp:
        Path(tmp).chmod(0o755)  # Postgres runs as nobody when we are root
        result = measure(args, Path(tmp))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"CPU plan: {result['cpu_plan']}")
    print("| variant | route | rps (range) | ceiling (of it) | p99 ms | generator CPU | errors |")
    print("|---|---|---|---|---|---|---|")
    for row in result["rows"]:
        print(_line(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
