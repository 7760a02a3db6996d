"""A dead worker's live gauges stop counting: real processes writing prometheus_client's
multiprocess files, one of which exits without saying so (as under granian, which replaces a
dead worker without a hook)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry, multiprocess

from services.common.metrics import forget_dead_workers

# A service process: sets its pool gauge (livesum) and counts a request, then waits for stdin.
WORKER = """
import sys
from services.common import metrics
metrics.POOL_SIZE.set(8)
metrics.REQUESTS.labels(metrics.SERVICE, metrics.VARIANT, "/json", "GET", "200").inc()
print("ready", flush=True)
sys.stdin.read()
"""


def start_worker(directory: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory), "SERVICE_NAME": "flask",
           "SERVICE_VARIANT": "flask-granian"}  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert worker.stdout is not None
    assert worker.stdout.readline() == "ready\n"
    return worker


def figures(directory: Path) -> dict[str, float]:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, str(directory))  # type: ignore[no-untyped-call]
    return {s.name: s.value for m in registry.collect() for s in m.samples}


def test_a_dead_workers_pool_stops_counting_and_its_requests_stay(tmp_path: Path) -> None:
    with start_worker(tmp_path) as live, start_worker(tmp_path) as dead:
        try:
            dead.kill()  # as SIGKILL or a crash: no hook marks it dead
            dead.wait()
            assert figures(tmp_path)["db_pool_size"] == 16  # the dead one still counts
            assert forget_dead_workers(str(tmp_path), [live.pid, os.getpid()]) == [dead.pid]
            after = figures(tmp_path)
            assert after["db_pool_size"] == 8
            # What the dead worker served happened: counters and histograms keep it.
            assert after["http_requests_total"] == 2
            assert forget_dead_workers(str(tmp_path), [live.pid]) == []
        finally:
            live.kill()
