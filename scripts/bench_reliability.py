#!/usr/bin/env python3
"""Database outages and durability, for every variant: what clients see, and what it costs.

Starts one native lab (free ports, a temporary state dir) and measures two things.

Outages (``--outages 5 30``): both services are loaded at once, each by ``--clients`` closed-loop
clients alternating ``/db`` and ``/io/db?ms=10`` and one client polling ``/readyz`` every 50 ms,
all on the generator CPUs. After a warm-up the lab's Postgres is stopped (``pg_ctl stop -m
fast``, asynclab/postgres.py), kept down for the outage, started again, and the load goes on for
``--after`` seconds. Per variant: the longest wait for a 503, how long ``/readyz`` took to say
503 after the stop was asked for and 200 after Postgres accepted connections again, and when
the last failed request was answered (full recovery), counted from that same moment. The
variants are served in rounds, one Flask and one FastAPI variant at a time.

Durability (``--repeats 3``): ``/updates?queries=20`` and ``POST /items`` with wrk on the
generator CPUs, each variant alone on the service CPU, with Postgres restarted with
``synchronous_commit`` on and off in alternating order. The cost of durability is
1 - on/off of the median requests per second. Every restart is checked with
``SHOW synchronous_commit``.

    make bench-reliability
    .venv/bin/python scripts/bench_reliability.py --variants flask-sync fastapi-async \\
        --outages 5 --repeats 1

Takes about 5 minutes for the outages and 20 for durability with the defaults (on a busy 2-core
machine); it saturates the service CPU during the durability runs. Ctrl-C stops the load and
the lab and writes what was measured so far (exit code 130).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import Any

import httpx
import psycopg

from asynclab import postgres
from asynclab.bench.generator import generator_plan
from asynclab.bench.interrupt import stop_signals_interrupt
from asynclab.bench.outage import READYZ, Sample, hammer, missed_targets, outage_figures
from asynclab.bench.wrk import run_wrk
from asynclab.lab import Lab, LabError
from asynclab.procs import cpu_plan, describe_cpu_plan, isolated_settings, parse_cpus, pinning
from asynclab.registry import SERVICES, get_service
from asynclab.settings import ROOT, LabSettings
from asynclab.variants import VARIANTS, Framework, get_variant

LOAD_PATHS = ("/db", "/io/db?ms=10")
READYZ_EVERY_S = 0.05
ITEM = {"name": "widget", "price": 9.99, "quantity": 3, "tags": ["a", "b"]}
ROUTES = {"updates": "/updates?queries=20", "items": "/items"}
MODES = ("on", "off")
Round = dict[Framework, str]


class Failed(Exception):
    """A measurement that could not be made as described (the lab did not come back, ...)."""


def rounds(variants: list[str]) -> list[Round]:
    """Every service's variants side by side: each round serves one of each (when left)."""
    by_framework = {f: [v for v in variants if get_variant(v).framework == f] for f in SERVICES}
    served = []
    for pair in zip_longest(*by_framework.values()):
        served.append({f: v for f, v in zip(SERVICES, pair, strict=True) if v is not None})
    return served


@contextlib.contextmanager
def running_lab(state: Path, first: Round) -> Iterator[Lab]:
    settings = isolated_settings(
        state, **{get_service(f).variant_setting: v for f, v in first.items()}
    )
    lab = Lab(settings)
    lab.up()
    try:
        yield lab
    finally:
        lab.down()


def service_url(settings: LabSettings, framework: Framework) -> str:
    return settings.service_url(framework)


def serve(lab: Lab, served: Round) -> None:
    manifest = lab.manifest() or {}
    for framework, variant in served.items():
        if manifest.get("variants", {}).get(framework, {}).get("name") != variant:
            lab.switch(framework, variant)


def wait_until(test: Any, what: str, timeout: float = 60.0) -> float:
    """Poll ``test`` every 10 ms; the monotonic time it first held. Failed after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if test():
            return time.monotonic()
        time.sleep(0.01)
    raise Failed(f"{what} did not happen within {timeout:g} s")


def ready(url: str) -> bool:
    try:
        return httpx.get(url + READYZ, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def generator_cpus(settings: LabSettings) -> set[int] | None:
    pinned, _ = pinning(settings.generator_cpus, settings)
    return parse_cpus(pinned) if pinned else None


def restart_postgres(settings: LabSettings, synchronous_commit: str) -> None:
    """Stop the lab's Postgres and start it again with ``synchronous_commit`` (checked)."""
    postgres.stop(settings, None)
    s = settings.model_copy(update={"postgres_synchronous_commit": synchronous_commit})
    postgres.start(s)
    with postgres.connect(s, s.postgres_db) as conn:
        row = conn.execute("SHOW synchronous_commit").fetchone()
    if row is None or row[0] != synchronous_commit:
        raise Failed(f"Postgres runs with synchronous_commit={row}, not {synchronous_commit}")


# --- outages ------------------------------------------------------------------------------


def outage_run(lab: Lab, served: Round, seconds: float, args: argparse.Namespace) -> dict[str, Any]:
    """One outage of ``seconds`` under load on both services; the figures per variant."""
    s = lab.settings
    for framework in served:
        wait_until(lambda f=framework: ready(service_url(s, f)), f"{served[framework]} ready")
    cpus = generator_cpus(s)
    stop = threading.Event()
    until = time.monotonic() + args.warmup + seconds + args.after + 120  # the hard bound
    samples: dict[Framework, list[Sample]] = {f: [] for f in served}
    clients: list[httpx.Client] = []
    threads: list[threading.Thread] = []
    for framework in served:
        for i in range(args.clients + 1):
            client = httpx.Client(base_url=service_url(s, framework), timeout=args.client_timeout)
            clients.append(client)
            readyz = i == args.clients
            paths = (READYZ,) if readyz else LOAD_PATHS[i % 2 :] + LOAD_PATHS[: i % 2]
            kwargs = {"pause_s": READYZ_EVERY_S if readyz else 0.0, "cpus": cpus}
            threads.append(threading.Thread(
                target=hammer, args=(client, paths, stop, until, samples[framework]),
                kwargs=kwargs, name=f"{framework}-client-{i}", daemon=True))  # fmt: skip
    try:
        for thread in threads:
            thread.start()
        stop.wait(args.warmup)
        down = time.monotonic()
        postgres.stop(s, None)
        progress(f"{' and '.join(served.values())}: Postgres stopped for {seconds:g} s")
        stop.wait(max(0.0, down + seconds - time.monotonic()))
        back: list[float] = []
        watcher = threading.Thread(target=lambda: back.append(wait_until(
            lambda: postgres.accepts_connections(s), "Postgres accepting connections")),
            daemon=True)  # fmt: skip
        watcher.start()
        postgres.start(s)
        watcher.join(timeout=60)
        if not back:
            raise Failed("Postgres did not accept connections after its restart")
        up = back[0]
        stop.wait(args.after)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=args.client_timeout + 5)
        for client in clients:
            client.close()
    finished = time.monotonic()
    found = {}
    for framework, variant in served.items():
        figures = outage_figures(samples[framework], down, up, finished)
        missed = missed_targets(figures, s.connect_timeout_s)
        found[variant] = {"outage_s": seconds, **figures, "missed_targets": missed}
    return found


def progress(text: str) -> None:
    """What is going on, on stderr: stdout keeps the tables."""
    print(f"  ({text})", file=sys.stderr, flush=True)


def print_outage(variant: str, fig: dict[str, Any]) -> None:
    def ms(key: str) -> str:
        value = fig[key]
        return "never" if value is None else f"{value:,.1f}" if value < 10 else f"{value:,.0f}"

    other = ", ".join(fig["other_answers"]) or "-"
    targets = "met" if not fig["missed_targets"] else "MISSED " + "; ".join(fig["missed_targets"])
    print(f"  {variant:<16} {fig['requests']:>8} {fig['unavailable_503']:>7} "
          f"{ms('median_503_ms'):>11} {ms('max_503_ms'):>7} {ms('readyz_503_after_ms'):>12} "
          f"{ms('readyz_200_after_ms'):>12} {ms('recovered_after_ms'):>13}   {other:<14} "
          f"{targets}", flush=True)  # fmt: skip


OUTAGE_HEADER = (
    f"  {'variant':<16} {'requests':>8} {'503s':>7} {'503 ms: p50':>11} {'max':>7} "
    f"{'readyz 503':>12} {'readyz 200':>12} {'recovered':>13}   {'other answers':<14} targets"
)


# --- durability ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    rps: float
    errors: int
    p99_ms: float | None


def measure(lab: Lab, variant: str, route: str, args: argparse.Namespace, out: Path) -> Measured:
    s = lab.settings
    url = service_url(s, get_variant(variant).framework)
    plan = generator_plan(s)
    script = None
    if route == "items":
        out.parent.mkdir(parents=True, exist_ok=True)
        script = out.parent / "post_item.lua"
        body = json.dumps(ITEM).replace("'", "\\'")
        script.write_text(f"wrk.method = \"POST\"\nwrk.body = '{body}'\n"
                          "wrk.headers[\"Content-Type\"] = \"application/json\"\n")  # fmt: skip
    result = run_wrk(url + ROUTES[route], args.users, args.duration, args.warmup, out,
                     plan.taskset, plan.cpus, None, plan.cpus, script=script)  # fmt: skip
    return Measured(result.rps, result.errors, result.p99_ms)


def durability(
    lab: Lab, variants: list[str], args: argparse.Namespace, base: Path, found: dict[str, Any]
) -> None:
    """Fill ``found[variant route][mode]`` with one Measured per repeat (in place: Ctrl-C keeps
    what was measured)."""
    for repeat in range(args.repeats):
        for mode in MODES if repeat % 2 == 0 else MODES[::-1]:
            restart_postgres(lab.settings, mode)
            progress(f"Postgres restarted with synchronous_commit={mode}")
            for served in rounds(variants):
                serve(lab, served)
                for framework, variant in served.items():
                    url = service_url(lab.settings, framework)
                    wait_until(lambda u=url: ready(u), f"{variant} ready")
                    for route in ROUTES:
                        out = base / "runs" / f"{variant}-{route}-{mode}-{repeat}" / "wrk.txt"
                        m = measure(lab, variant, route, args, out)
                        cell = found.setdefault(f"{variant} {route}", {k: [] for k in MODES})
                        cell[mode].append(m)
                        report_run(variant, route, mode, repeat, m)


def report_run(variant: str, route: str, mode: str, repeat: int, m: Measured) -> None:
    flag = f"  {m.errors} errors" if m.errors else ""
    print(f"  {variant:<16} {route:<8} synchronous_commit={mode:<3} run {repeat + 1}: "
          f"{m.rps:9.1f} req/s{flag}", flush=True)  # fmt: skip


def summarise_durability(found: dict[str, Any]) -> dict[str, Any]:
    summary = {}
    for key, sides in found.items():
        cell: dict[str, Any] = {}
        for mode in MODES:
            rps = [m.rps for m in sides[mode]]
            cell[mode] = {"rps": rps, "errors": sum(m.errors for m in sides[mode]),
                          "median": statistics.median(rps) if rps else None}  # fmt: skip
        on, off = cell["on"]["median"], cell["off"]["median"]
        cell["cost_percent"] = round(100 * (1 - on / off), 1) if on and off else None
        summary[key] = cell
    return summary


def print_durability(summary: dict[str, Any]) -> None:
    print(f"\n  {'variant, route':<24} {'on: median rps (range)':>26} "
          f"{'off: median rps (range)':>26} {'cost':>7}")  # fmt: skip

    def side(cell: dict[str, Any]) -> str:
        rps = cell["rps"]
        if not rps:
            return "-"
        errors = f" {cell['errors']} err" if cell["errors"] else ""
        return f"{cell['median']:,.0f} ({min(rps):,.0f}-{max(rps):,.0f}){errors}"

    for key, cell in summary.items():
        cost = "-" if cell["cost_percent"] is None else f"{cell['cost_percent']:.1f}%"
        print(f"  {key:<24} {side(cell['on']):>26} {side(cell['off']):>26} {cost:>7}")


# --- main ---------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS),
                        metavar="VARIANT", help="variants to measure (default: all)")  # fmt: skip
    parser.add_argument("--outages", nargs="*", type=float, default=[5.0, 30.0], metavar="S",
                        help="outage lengths in seconds (none: skip the outages)")  # fmt: skip
    parser.add_argument("--clients", type=int, default=8, help="closed-loop clients per service")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before a stop")
    parser.add_argument("--after", type=float, default=8.0,
                        help="seconds of load after Postgres is back")  # fmt: skip
    parser.add_argument("--client-timeout", type=float, default=30.0,
                        help="seconds a client waits for an answer")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3,
                        help="durability: on/off runs per cell (0: skip durability)")  # fmt: skip
    parser.add_argument("--duration", type=float, default=5.0,
                        help="durability: seconds measured per wrk run")  # fmt: skip
    parser.add_argument("--users", type=int, default=16, help="durability: wrk connections")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "reliability.json")
    args = parser.parse_args()
    if any(seconds <= 0 for seconds in args.outages):
        parser.error("--outages: every outage must last more than 0 seconds")
    if args.clients < 1 or args.users < 1 or args.repeats < 0:
        parser.error("--clients and --users must be at least 1, --repeats at least 0")
    return args


def main() -> int:
    args = parse_args()
    outages: list[dict[str, Any]] = []
    found: dict[str, Any] = {}
    plan: dict[str, Any] = {}
    interrupted = False
    failure: str | None = None
    served = rounds(args.variants)
    with stop_signals_interrupt(), tempfile.TemporaryDirectory(prefix="asynclab-reliab-") as tmp:
        base = Path(tmp)
        os.chmod(base, 0o755)  # Postgres runs as nobody and must enter the state dir
        try:
            with running_lab(base / "lab", served[0]) as lab:
                plan = {**cpu_plan(lab.settings), **generator_plan(lab.settings).to_json()}
                print(f"CPU plan: {describe_cpu_plan(plan)}.", flush=True)
                for seconds in args.outages:
                    print(f"\noutage of {seconds:g} s, {args.clients} clients per service on "
                          f"{' and '.join(LOAD_PATHS)} (delays in ms):\n{OUTAGE_HEADER}",
                          flush=True)  # fmt: skip
                    for pair in served:
                        serve(lab, pair)
                        figures = outage_run(lab, pair, seconds, args)
                        for variant, fig in figures.items():
                            outages.append({"variant": variant, **fig})
                            print_outage(variant, fig)
                if args.repeats:
                    print(f"\ndurability: wrk, {args.users} connections, {args.warmup:g} s "
                          f"warm-up then {args.duration:g} s", flush=True)  # fmt: skip
                    durability(lab, args.variants, args, base, found)
        except KeyboardInterrupt:
            interrupted = True
            print("\ninterrupted: the load and the lab are stopped; what was measured is kept")
        except (Failed, LabError, httpx.HTTPError, psycopg.Error, RuntimeError, OSError) as exc:
            failure = str(exc)
            print(f"\nstopped: {failure}; the lab is stopped; what was measured is kept")

    summary = summarise_durability(found)
    if summary:
        print_durability(summary)
    document = {
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "load_paths": list(LOAD_PATHS),
        "durability_routes": ROUTES,
        "cpu_plan": plan,
        "interrupted": interrupted,
        "failure": failure,
        "outages": outages,
        "durability": summary,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwritten to {args.out}")
    return 130 if interrupted else 1 if failure else 0


if __name__ == "__main__":
    sys.exit(main())
