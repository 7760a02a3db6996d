#!/usr/bin/env python3
"""Our FastAPI service against TechEmpower's own FastAPI implementation, route by route.

TechEmpower's ``frameworks/Python/fastapi/app.py`` is the reference a reader trusts; this runs it
beside ours, never copies it. Both run in the lab's virtual environment (same Python, FastAPI,
Starlette, uvicorn, uvloop, httptools and asyncpg), so the ratio is the cost of the two
applications, not of their library versions. TechEmpower's app also needs ``ujson`` (its
default JSON response), which is installed into a cache folder on its ``PYTHONPATH`` only.

The conditions, equal for both: one uvicorn process on the service CPU (uvloop, httptools, no
access log), an asyncpg pool of 30 connections to the lab's Postgres (TechEmpower's app asks
for 1000 / CPUs; the pool is set at its call to ``asyncpg.create_pool``, its code untouched),
and ``wrk -c64`` with one thread on the generator CPU. Ours runs as the lab serves it, metrics
on and scraped. Each route is measured in pairs, each run a discarded warm-up then the
measured window; the ratio of a pair is ours / theirs, and the figure is the median over the
pairs with their range. A pair is, by ``--design``:

- ``alternate`` (the default, TechEmpower's way): ours and theirs one after the other, in
  alternating order, each alone on the service CPU;
- ``corun``: both at once on the service CPU, each loaded by its own wrk. Two saturated
  processes on one CPU get equal shares of it, so the ratio of their throughputs is the ratio
  of their costs per request, and a busy machine or the VM's drift hits both sides at once.

Get TechEmpower's implementation once (only this folder is needed)::

    git clone --depth 1 --filter=blob:none --sparse \\
        https://github.com/TechEmpower/FrameworkBenchmarks /tmp/tfb
    git -C /tmp/tfb sparse-checkout set frameworks/Python/fastapi
    make bench-techempower TECHEMPOWER=/tmp/tfb

Heavy: it saturates the service core for routes x 2 x repeats x (warm-up + duration) seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from asynclab.bench.generator import generator_plan
from asynclab.bench.interrupt import stop_signals_interrupt
from asynclab.bench.wrk import WrkTarget, run_wrk, run_wrk_together
from asynclab.bench.wrk import available as wrk_available
from asynclab.lab import Lab, LabError
from asynclab.procs import (
    ProcessSpec,
    cpu_plan,
    describe_cpu_plan,
    free_ports,
    isolated_settings,
    start_process,
)
from asynclab.settings import ROOT

ROUTES = ("/json", "/plaintext", "/db", "/queries?queries=20", "/fortunes", "/updates?queries=20")
APP_DIR = Path("frameworks/Python/fastapi")
UJSON = "ujson==5.10.0"  # TechEmpower's pin (requirements.txt)
EXTRAS = Path.home() / ".cache" / "asynclab" / "techempower-extras"
TARGET = 0.9  # the share of TechEmpower's throughput ours must reach on every route
POOL_SIZE = 30

# Runs TechEmpower's module as it is, with two shims at its calls into libraries: the pool's
# address, credentials and size are set at the one call that makes it (its code names a host,
# tfb-database, that is not here), and ``TemplateResponse(name, context)``, the argument order
# Starlette 1.0 removed, is passed on in today's order (request first).
LAUNCHER = """
import json, os, sys
import asyncpg, uvicorn
from starlette.templating import Jinja2Templates
overrides = json.loads(os.environ["TFB_POOL"])
create_pool = asyncpg.create_pool
asyncpg.create_pool = lambda *a, **kw: create_pool(*a, **{**kw, **overrides})
template_response = Jinja2Templates.TemplateResponse
def old_order(self, name, context, *args, **kwargs):
    if isinstance(name, str):
        return template_response(self, context["request"], name, context, *args, **kwargs)
    return template_response(self, name, context, *args, **kwargs)
Jinja2Templates.TemplateResponse = old_order
sys.path.insert(0, os.getcwd())
import app
uvicorn.run(app.app, host="127.0.0.1", port=int(os.environ["TFB_PORT"]), loop="uvloop",
            http="httptools", log_level="error", access_log=False, proxy_headers=False)
"""


class Unusable(Exception):
    """A run that measured something else than both applications answering every request."""


@dataclass(frozen=True)
class Run:
    rps: float
    p99_ms: float | None
    errors: int
    generator_cpu: float | None


def app_dir(given: Path) -> Path:
    """The folder holding TechEmpower's FastAPI ``app.py``: given directly or as the repo."""
    for candidate in (given, given / APP_DIR):
        if (candidate / "app.py").is_file() and (candidate / "templates").is_dir():
            return candidate
    raise SystemExit(
        f"no TechEmpower FastAPI app under {given}: pass the FrameworkBenchmarks checkout or its "
        f"{APP_DIR} folder (how to get it: scripts/bench_techempower.py --help)"
    )


def ensure_ujson(python: str) -> None:
    """ujson into EXTRAS, once: TechEmpower's app imports it, our environment does not have it."""
    probe = [python, "-c", "import ujson"]
    env = {**os.environ, "PYTHONPATH": str(EXTRAS)}
    if subprocess.run(probe, env=env, capture_output=True).returncode == 0:
        return
    print(f"installing {UJSON} into {EXTRAS} (for TechEmpower's app only)")
    subprocess.run(["uv", "pip", "install", "--quiet", "--python", python, "--target",
                    str(EXTRAS), UJSON], check=True)  # fmt: skip


def start_techempower(lab: Lab, folder: Path, port: int) -> str:
    s = lab.settings
    pool = {"host": s.host, "port": s.postgres_port, "database": s.postgres_db,
            "user": s.postgres_user, "password": s.postgres_password,
            "min_size": POOL_SIZE, "max_size": POOL_SIZE}  # fmt: skip
    env = {"TFB_POOL": json.dumps(pool), "TFB_PORT": str(port), "PYTHONPATH": str(EXTRAS)}
    url = s.url(port)
    # Recorded in the lab's pid files: the lab's down stops it with everything else.
    spec = ProcessSpec(name="techempower-fastapi", argv=[sys.executable, "-c", LAUNCHER],
                       env=env, cwd=folder, ready_url=url + "/db", port=port,
                       cpus=s.service_cpus)  # fmt: skip
    start_process(spec, s)
    return url


def check_answers(url: str) -> None:
    with httpx.Client(timeout=10) as client:
        for route in ROUTES:
            status = client.get(url + route).status_code
            if status != 200:
                raise Unusable(f"{url}{route} answered {status}")


def measure(lab: Lab, url: str, route: str, args: argparse.Namespace, out: Path) -> Run:
    plan = generator_plan(lab.settings)
    w = run_wrk(url + route, args.connections, args.duration, args.warmup, out, plan.taskset,
                1, None, plan.cpus)  # fmt: skip
    if w.errors or not w.requests:
        raise Unusable(f"{url}{route}: {w.requests} requests, {w.errors} errors (see {out})")
    return Run(w.rps, w.p99_ms, w.errors, w.generator_cpu)


def measure_together(
    lab: Lab, urls: dict[str, str], route: str, args: argparse.Namespace, out: Path
) -> dict[str, Run]:
    plan = generator_plan(lab.settings)
    targets = [WrkTarget(url + route, out / f"wrk-{side}.txt") for side, url in urls.items()]
    results = run_wrk_together(targets, args.connections, args.duration, args.warmup,
                               plan.taskset, 1, plan.cpus)  # fmt: skip
    # The two wrk share the generator CPUs: it is their sum that must leave headroom.
    load = sum(w.generator_cpu or 0.0 for w in results)
    runs = {}
    for (side, url), w in zip(urls.items(), results, strict=True):
        if w.errors or not w.requests:
            raise Unusable(f"{url}{route}: {w.requests} requests, {w.errors} errors (see {out})")
        runs[side] = Run(w.rps, w.p99_ms, w.errors, load)
    return runs


def measure_pair(
    lab: Lab, urls: dict[str, str], route: str, args: argparse.Namespace, out: Path, pair: int
) -> dict[str, Run]:
    if args.design == "corun":
        return measure_together(lab, urls, route, args, out)
    # Ours first in even pairs, theirs first in odd ones: an even --repeats balances the order.
    order = list(urls) if pair % 2 == 0 else list(urls)[::-1]
    return {side: measure(lab, urls[side], route, args, out / f"wrk-{side}.txt") for side in order}


def summarise(runs: dict[str, dict[str, list[Run]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for route, sides in runs.items():
        pairs = min(len(sides["ours"]), len(sides["techempower"]))  # whole pairs only
        if not pairs:
            continue
        paired = {side: runs_[:pairs] for side, runs_ in sides.items()}
        ratios = [o.rps / t.rps for o, t in zip(paired["ours"], paired["techempower"], strict=True)]
        generator = max((r.generator_cpu or 0.0) for side in paired.values() for r in side)
        summary[route] = {
            "pairs": pairs,
            "ours_rps": statistics.median(r.rps for r in paired["ours"]),
            "techempower_rps": statistics.median(r.rps for r in paired["techempower"]),
            "ratio": statistics.median(ratios),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
            "met": statistics.median(ratios) >= TARGET,
            "generator_cpu_max": generator,
            "generator_flag": generator > 0.9,
            "runs": {side: [asdict(r) for r in rs] for side, rs in paired.items()},
        }
    return summary


def print_summary(summary: dict[str, Any]) -> None:
    print(f"\n{'route':<22}{'ours rps':>10}{'TE rps':>10}{'ratio':>8}  range        target")
    for route, cell in summary.items():
        flag = "  generator above 90% CPU" if cell["generator_flag"] else ""
        print(f"{route:<22}{cell['ours_rps']:>10.0f}{cell['techempower_rps']:>10.0f}"
              f"{cell['ratio']:>8.2f}  {cell['ratio_min']:.2f}-{cell['ratio_max']:.2f}"
              f"    {'met' if cell['met'] else 'NOT met'} (>= {TARGET}){flag}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1])  # fmt: skip
    parser.add_argument(
        "--techempower",
        type=Path,
        default=os.environ.get("TECHEMPOWER") or None,
        help="FrameworkBenchmarks checkout, or its frameworks/Python/fastapi (default: "
        "$TECHEMPOWER)",
    )
    parser.add_argument(
        "--routes",
        nargs="+",
        default=list(ROUTES),
        choices=ROUTES,
        metavar="ROUTE",
        help=f"routes to measure (default: all of {ROUTES})",
    )
    parser.add_argument(
        "--design",
        choices=("alternate", "corun"),
        default="alternate",
        help="alternate: one after the other (the default); corun: both at "
        "once on the service CPU, robust to a busy machine",
    )
    parser.add_argument("--no-metrics", action="store_true",
                        help="ours with its metrics off: what the instrumentation costs of the "
                        "ratio (the target holds with them on)")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3,
                        help="pairs per route (even: each side goes first as often)")  # fmt: skip
    parser.add_argument("--duration", type=float, default=8, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of unmeasured load")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "techempower.json")
    args = parser.parse_args()  # fmt: skip
    if args.techempower is None:
        parser.error("say where TechEmpower's FastAPI app is: --techempower DIR or TECHEMPOWER=DIR "
                     "(how to get it: scripts/bench_techempower.py --help)")  # fmt: skip
    folder = app_dir(Path(args.techempower).resolve())
    if not wrk_available():
        raise SystemExit("wrk is not installed: run `make install` (or apt-get install wrk)")
    ensure_ujson(sys.executable)

    runs: dict[str, dict[str, list[Run]]] = {}
    plan: dict[str, Any] = {}
    interrupted, failure = False, None
    with stop_signals_interrupt(), tempfile.TemporaryDirectory(prefix="asynclab-tfb-") as tmp:
        base = Path(tmp)
        os.chmod(base, 0o755)  # Postgres runs as nobody and must enter the state dir
        lab = Lab(
            isolated_settings(
                base / "lab",
                fastapi_variant="fastapi-async",
                db_pool_size=POOL_SIZE,
                metrics_enabled=not args.no_metrics,
            )
        )
        try:
            lab.up()
            plan = {**cpu_plan(lab.settings), **generator_plan(lab.settings).to_json()}
            print(f"CPU plan: {describe_cpu_plan(plan)}.")
            urls = {
                "ours": lab.settings.service_url("fastapi"),
                "techempower": start_techempower(lab, folder, free_ports(1)[0]),
            }
            for url in urls.values():
                check_answers(url)
            for repeat in range(args.repeats):
                for route in args.routes:
                    out = base / "runs" / f"{route.strip('/').replace('?', '-')}-{repeat}"
                    pair = measure_pair(lab, urls, route, args, out, repeat)
                    for side, run in pair.items():
                        runs.setdefault(route, {"ours": [], "techempower": []})[side].append(run)
                        print(
                            f"{route:<22}{side:<12} run {repeat + 1}: {run.rps:9.1f} req/s, "
                            f"p99 {run.p99_ms} ms, generator {run.generator_cpu or 0:.0%}"
                        )
        except KeyboardInterrupt:
            interrupted = True
            print("\ninterrupted: the lab is stopped; the pairs finished so far are kept")
        except Exception as exc:  # any failure: the pairs finished so far are still written
            failure = f"{type(exc).__name__}: {exc}"
            print(f"\nstopped: {failure}; the pairs finished so far are kept")
        finally:
            with contextlib.suppress(LabError):
                lab.down()

    summary = summarise(runs)
    print_summary(summary)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    settings = {
        "design": args.design, "routes": args.routes, "repeats": args.repeats,
        "duration_s": args.duration, "warmup_s": args.warmup, "connections": args.connections,
        "metrics": not args.no_metrics, "pool_size": POOL_SIZE, "target": TARGET,
        "techempower_app": str(folder),
    }  # fmt: skip
    document = {"settings": settings, "cpu_plan": plan, "interrupted": interrupted,
                "failure": failure, "results": summary}  # fmt: skip
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwritten to {args.out}")
    return 130 if interrupted else 1 if failure else 0


if __name__ == "__main__":
    sys.exit(main())
