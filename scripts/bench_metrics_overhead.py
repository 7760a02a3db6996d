#!/usr/bin/env python3
"""What the Prometheus instrumentation costs: throughput with metrics on versus off.

Starts two native labs side by side (``metrics_enabled`` true and false, free ports, temporary
state dirs), then for each route and service runs the same closed-loop Locust load against
one and then the other, alternating which goes first, ``--repeats`` times. Only one lab is
under load at a time; the idle one costs nothing. Prints the median requests per second of
each side with its spread and the overhead in percent, and writes them as JSON.

    .venv/bin/python scripts/bench_metrics_overhead.py --duration 20 --repeats 3

Heavy: it saturates the service core for about (routes x 2 services x 2 modes x repeats x
(warm-up + duration)) seconds. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from asynclab.lab import Lab
from asynclab.procs import taskset_prefix
from asynclab.settings import ROOT, LabSettings

FRAMEWORKS = ("flask", "fastapi")
ROUTES = ("/json", "/io/db")
LOCUSTFILE = """
import os
from locust import FastHttpUser, task

PATH = os.environ["BENCH_PATH"]

class Hammer(FastHttpUser):
    @task
    def hit(self):
        self.client.get(PATH)
"""


def free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


@contextlib.contextmanager
def running_lab(base: Path, metrics: bool) -> Iterator[Lab]:
    state = base / ("metrics-on" if metrics else "metrics-off")
    state.mkdir(parents=True)
    fields = [name for name in LabSettings.model_fields if name.endswith("_port")]
    ports = dict(zip(fields, free_ports(len(fields)), strict=True))
    lab = Lab(LabSettings.model_validate({"state_dir": state, "metrics_enabled": metrics, **ports}))
    lab.up()
    try:
        yield lab
    finally:
        lab.down()


def locust_rps(lab: Lab, url: str, path: str, users: int, seconds: float, work: Path) -> float:
    """Requests per second Locust achieved, first to last request (failures void the run)."""
    locustfile = work / "bench_locustfile.py"
    locustfile.write_text(LOCUSTFILE)
    prefix = work / "run"
    argv = [
        *taskset_prefix(lab.settings.generator_cpus, lab.settings),
        sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
        "--host", url, "--users", str(users), "--spawn-rate", str(users),
        "--run-time", f"{seconds:g}s", "--json-file", str(prefix), "--only-summary",
        "--loglevel", "WARNING",
    ]  # fmt: skip
    env = {**os.environ, "BENCH_PATH": path}
    subprocess.run(argv, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    entries = json.loads(Path(f"{prefix}.json").read_text())
    requests = sum(e["num_requests"] for e in entries)
    failures = sum(e["num_failures"] for e in entries)
    if not requests or failures:
        raise SystemExit(f"{url}{path}: {requests} requests, {failures} failures; invalid run")
    start = min(e["start_time"] for e in entries)
    end = max(e["last_request_timestamp"] for e in entries)
    return float(requests / (end - start))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of unmeasured load")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--routes", nargs="+", default=list(ROUTES))
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "metrics_overhead.json")
    args = parser.parse_args()

    runs: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="asynclab-overhead-") as tmp:
        base = Path(tmp)
        os.chmod(base, 0o755)  # Postgres runs as nobody and must enter the state dirs
        with running_lab(base, True) as on, running_lab(base, False) as off:
            labs = {"on": on, "off": off}
            for repeat in range(args.repeats):
                # Alternate the order so that drift (thermal, caches) does not favour one side.
                order = ["on", "off"] if repeat % 2 == 0 else ["off", "on"]
                for route in args.routes:
                    for framework in FRAMEWORKS:
                        for mode in order:
                            lab = labs[mode]
                            url = getattr(lab.settings, f"{framework}_url")
                            locust_rps(lab, url, route, args.users, args.warmup, base)
                            rps = locust_rps(lab, url, route, args.users, args.duration, base)
                            key = f"{framework} {route}"
                            runs.setdefault(key, {"on": [], "off": []})[mode].append(rps)
                            print(f"{key:<20} metrics {mode:<3} run {repeat + 1}: {rps:9.1f} req/s")

    summary: dict[str, Any] = {}
    print(f"\n{'':<20} {'on (median)':>12} {'off (median)':>13} {'overhead':>9}")
    for key, sides in runs.items():
        on_rps, off_rps = statistics.median(sides["on"]), statistics.median(sides["off"])
        overhead = 100 * (off_rps - on_rps) / off_rps
        summary[key] = {
            "on": sides["on"],
            "off": sides["off"],
            "on_median": on_rps,
            "off_median": off_rps,
            "overhead_percent": overhead,
        }
        print(f"{key:<20} {on_rps:12.1f} {off_rps:13.1f} {overhead:8.1f}%")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    settings = {"users": args.users, "duration_s": args.duration, "repeats": args.repeats}
    args.out.write_text(json.dumps({"settings": settings, "results": summary}, indent=2) + "\n")
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
