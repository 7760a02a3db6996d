#!/usr/bin/env python3
"""What the Prometheus instrumentation costs, in CPU instructions per request.

Throughput (``scripts/bench_metrics_overhead.py``) is what users feel, but on this VM it drifts
by 10% over minutes, more than the effect. Instructions do not drift: this script runs each
service's app in one process under valgrind's callgrind, with metrics on and off, and reports
the instructions one request costs. Two runs per side, of N and N + ``--requests`` requests
after the same warm-up, cancel start-up and shutdown: the difference over the extra requests
is the cost of one. Same hash seed, same code: FastAPI's figure repeats within a few hundred
instructions. Flask's moves by thousands at small sizes, with where the garbage collector's runs
fall (with the collector off it is steady); the default 10,000 requests average them out.

The app is driven directly, the way its server calls it (an ASGI call with a fresh scope, a WSGI
call with a fresh environ), so the figures leave out the server, the kernel and caches. The
tally is flushed every 2,000 requests, as the sampler would at ~4,000 requests per second; the
``/metrics`` scrapes (one every 2 s) are left out. No database is needed: ``/json`` does not use
it; Flask's pool is closed at once and FastAPI's is never opened (no lifespan).

    .venv/bin/python scripts/bench_metrics_instructions.py
    .venv/bin/python scripts/bench_metrics_instructions.py --frameworks fastapi --route /plaintext

Needs valgrind (Debian package ``valgrind``). Takes about 3 minutes per framework: callgrind
runs Python about 50 times slower; the runs go two at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from asynclab.registry import SERVICES, get_service

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse

ROOT = Path(__file__).resolve().parent.parent
MODES = ("off", "on")
WARMUP = 500
BASE = 1000
FLUSH_EVERY = 2000


def drive(framework: str, mode: str, route: str, requests: int) -> None:
    """Serve WARMUP + ``requests`` requests for ``route`` in this process (run under callgrind)."""
    sys.path.insert(0, str(ROOT))
    from services.common import metrics
    from services.common.config import load_config

    config = load_config().model_copy(update={"metrics_enabled": mode == "on"})
    # The flushes below stand in for the sampler. Its thread (Flask) would wake on the wall
    # clock, which callgrind slows fifty times: far more flushes, and a different number each run.
    metrics.sampler_running = True
    total = WARMUP + requests
    statuses: set[int] = set()
    service = get_service(framework)
    module, _, factory = service.factory.partition(":")
    create_app = getattr(importlib.import_module(module), factory)
    if service.interface == "wsgi":
        call = _wsgi_caller(create_app(config), route, statuses)
        for i in range(total):
            call()
            if i % FLUSH_EVERY == 0:
                metrics.flush()
        _check(statuses, framework, route)
        return

    from services.common.startup import freeze_startup_objects

    app = create_app(config)
    freeze_startup_objects()  # as the lifespan does once the pool is open (not opened here)
    path, _, query = route.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
             "root_path": "", "query_string": query.encode(),
             "headers": [(b"host", b"127.0.0.1"), (b"user-agent", b"wrk")],
             "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000)}  # fmt: skip

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.add(message["status"])

    async def serve() -> None:
        for i in range(total):
            await app(dict(scope), receive, send)
            if i % FLUSH_EVERY == 0:
                metrics.flush()

    asyncio.run(serve())
    _check(statuses, framework, route)


def _check(statuses: set[int], framework: str, route: str) -> None:
    # Counting the instructions of an error page would be a wrong figure, and a quiet one.
    if statuses != {200}:
        raise SystemExit(f"{framework} answered {sorted(statuses)} for GET {route}, not only 200: "
                         "pick a route that answers 200 without a database")  # fmt: skip


def _wsgi_caller(app: Any, route: str, statuses: set[int]) -> Callable[[], None]:
    """One WSGI request as gunicorn makes it: call, read the body, close it."""
    from werkzeug.test import EnvironBuilder

    # Its pool would retry the closed port from background threads, a varying number of times
    # within a run: instructions that have nothing to do with /json.
    app.extensions["asynclab_backend"].close()
    environ = EnvironBuilder(path=route, headers=[("User-Agent", "wrk")]).get_environ()

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        statuses.add(int(status[:3]))

    def call() -> None:
        body = app(dict(environ), cast("StartResponse", start_response))
        for _ in body:
            pass
        close = getattr(body, "close", None)
        if close is not None:
            close()

    return call


def drive_environment(framework: str, metrics_dir: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONHASHSEED": "0", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "SERVICE_NAME": framework, "SERVICE_VARIANT": f"{framework}-instructions",
            "SERVICE_HANDLERS": "sync" if get_service(framework).interface == "wsgi" else "async",
            # A closed port: the pools fail at once, in the background, and /json never asks.
            "SERVICE_DATABASE_URL": "postgresql://asynclab:asynclab@127.0.0.1:9/asynclab",
            "SERVICE_UPSTREAM_URL": "http://127.0.0.1:9"}  # fmt: skip


def run_drive(framework: str, mode: str, requests: int, route: str, tmp: Path,
              valgrind: bool) -> subprocess.CompletedProcess[str]:  # fmt: skip
    metrics_dir = tmp / f"{framework}-{mode}-{requests}-{'callgrind' if valgrind else 'check'}"
    metrics_dir.mkdir()
    argv = [sys.executable, __file__, "--drive", framework, mode, route, str(requests)]
    if valgrind:
        argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv]
    env = drive_environment(framework, metrics_dir)
    return subprocess.run(argv, capture_output=True, text=True, env=env, check=False)


def instructions(framework: str, mode: str, requests: int, route: str, tmp: Path) -> int:
    done = run_drive(framework, mode, requests, route, tmp, valgrind=True)
    for line in done.stderr.splitlines():
        if "Collected :" in line:
            return int(line.rsplit(":", 1)[1].replace(",", ""))
    tail = "\n".join(done.stderr.splitlines()[-15:])
    raise SystemExit(f"callgrind run failed ({framework}, metrics {mode}):\n{tail}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # Python's own instructions under callgrind: the services a Python server runs.
    python = [name for name, service in SERVICES.items() if service.python]
    parser.add_argument("--frameworks", nargs="+", default=python, choices=python)
    parser.add_argument("--route", default="/json", help="a GET route that needs no database")
    parser.add_argument("--requests", type=int, default=10_000,
                        help="requests measured (the difference between the two runs)")  # fmt: skip
    parser.add_argument("--out", type=Path,
                        default=ROOT / "results" / "metrics_instructions.json")  # fmt: skip
    parser.add_argument("--drive", nargs=4, metavar=("FRAMEWORK", "MODE", "ROUTE", "N"),
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args()
    if args.drive:
        framework, mode, route, n = args.drive
        drive(framework, mode, route, int(n))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is missing: install the Debian package (apt-get install valgrind)",
              file=sys.stderr)  # fmt: skip
        return 2
    if args.requests < 1:
        parser.error("--requests must be at least 1")

    runs = [(f, m, n) for f in args.frameworks for m in MODES for n in (BASE, BASE + args.requests)]
    with tempfile.TemporaryDirectory(prefix="asynclab-instructions-") as tmp:
        # A second at full speed before minutes under valgrind: does the route answer 200?
        for framework in args.frameworks:
            check = run_drive(framework, "on", 0, args.route, Path(tmp), valgrind=False)
            if check.returncode:
                lines = check.stderr.strip().splitlines() or [f"exit status {check.returncode}"]
                print(lines[-1], file=sys.stderr)
                return 2

        def count(run: tuple[str, str, int]) -> int:
            framework, mode, requests = run
            return instructions(framework, mode, requests, args.route, Path(tmp))

        with ThreadPoolExecutor(max_workers=2) as pool:
            counts = dict(zip(runs, pool.map(count, runs), strict=True))

    results: dict[str, dict[str, float]] = {}
    print(f"\n{args.route}: CPU instructions per request (callgrind)")
    print(f"{'':<8} {'metrics off':>12} {'metrics on':>12} {'added':>8} {'share':>7}")
    for framework in args.frameworks:
        per = {m: (counts[(framework, m, BASE + args.requests)] - counts[(framework, m, BASE)])
               / args.requests for m in MODES}  # fmt: skip
        added = per["on"] - per["off"]
        results[framework] = {"off": per["off"], "on": per["on"], "added": added,
                              "added_percent": 100 * added / per["off"]}  # fmt: skip
        print(f"{framework:<8} {per['off']:12,.0f} {per['on']:12,.0f} {added:8,.0f} "
              f"{100 * added / per['off']:6.1f}%")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    document = {"route": args.route, "requests": args.requests, "warmup": WARMUP,
                "flush_every": FLUSH_EVERY, "results": results}  # fmt: skip
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
