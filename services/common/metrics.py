"""The metrics both services export, with the names and labels fixed by docs/contract.md.

Under gunicorn or granian every worker writes its samples to files in
``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode) and whichever worker answers
``/metrics`` adds them up, so the figures describe the whole service, not the one worker that
happened to be scraped. The runner always sets that variable; without it (a bare uvicorn, say)
the same metrics live in one process's registry.

Labels ``service`` and ``variant`` come from ``SERVICE_NAME`` and ``SERVICE_VARIANT``.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable

import psutil
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.common.tally import RequestTally

SERVICE = os.environ.get("SERVICE_NAME", "unknown")
VARIANT = os.environ.get("SERVICE_VARIANT", "unknown")
UNMATCHED = "<unmatched>"
METRICS_PATH = "/metrics"
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

# Fine buckets at the low end: /json answers in well under a millisecond, /io/db in ~50 ms.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075,
    0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

PoolStats = Callable[[], tuple[int, int, int]]

# In multiprocess mode the metrics must not sit in a registry: the collector reads the files.
_registry: CollectorRegistry | None = None if MULTIPROCESS else CollectorRegistry()
_LABELS = ("service", "variant")

REQUESTS = Counter(
    "http_requests",
    "HTTP requests answered, by route template, method and status.",
    [*_LABELS, "route", "method", "status"],
    registry=_registry,
)
DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from the request reaching the framework to the response being sent.",
    [*_LABELS, "route", "method"],
    buckets=LATENCY_BUCKETS,
    registry=_registry,
)
# livesum: the service's figure is the sum over its live workers; a dead worker's share goes.
IN_FLIGHT = Gauge(
    "http_requests_in_flight",
    "Requests being handled right now.",
    _LABELS,
    multiprocess_mode="livesum",
    registry=_registry,
).labels(SERVICE, VARIANT)
POOL_SIZE = Gauge(
    "db_pool_size",
    "Open database connections in the pools of all workers.",
    _LABELS,
    multiprocess_mode="livesum",
    registry=_registry,
).labels(SERVICE, VARIANT)
POOL_IN_USE = Gauge(
    "db_pool_in_use",
    "Database connections lent to a request right now.",
    _LABELS,
    multiprocess_mode="livesum",
    registry=_registry,
).labels(SERVICE, VARIANT)
POOL_WAITING = Gauge(
    "db_pool_waiting",
    "Requests waiting for a database connection.",
    _LABELS,
    multiprocess_mode="livesum",
    registry=_registry,
).labels(SERVICE, VARIANT)


def gauge(name: str, documentation: str, multiprocess_mode: str) -> Gauge:
    """A gauge with the service's labels already bound (for framework-specific metrics)."""
    metric = Gauge(
        name,
        documentation,
        _LABELS,
        multiprocess_mode=multiprocess_mode,  # type: ignore[arg-type]
        registry=_registry,
    )
    return metric.labels(SERVICE, VARIANT)


# Any token is a valid HTTP method; anything unusual shares one label value, like unknown routes.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

_PLACEHOLDER = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>|\{([^{}:]+)(?::[^{}]*)?\}")


def route_template(rule: str) -> str:
    """The contract's form of a route rule.

    ``route_template("/items/<int:id>") == route_template("/items/{id:int}") == "/items/{id}"``
    """
    return _PLACEHOLDER.sub(lambda m: "{" + (m.group(1) or m.group(2)) + "}", rule)


def route_label(rule: object) -> str:
    """The ``route`` label of a request: its rule as a template; UNMATCHED for None.

    Anything else but a string is UNMATCHED too: a flush that raised would lose its batch.
    """
    return route_template(rule) if isinstance(rule, str) else UNMATCHED


# Requests reach REQUESTS, DURATION and IN_FLIGHT through this tally, at most 0.5 s late: one
# mmap write per sample would cost a sixth of a /json request (see services/common/tally.py).
TALLY = RequestTally(REQUESTS, DURATION, IN_FLIGHT, (SERVICE, VARIANT), METHODS, route_label)
# Both are C callables: a Python-level call would cost a third of a percent of a /json.
request_started = TALLY.started
# request_finished((route rule or None, method, status, seconds))
request_finished = TALLY.finished
flush = TALLY.flush
# A worker that exits cleanly (gunicorn's sys.exit, uvicorn's shutdown) leaves nothing behind.
atexit.register(flush)


_pool_stats: PoolStats | None = None


def register_pool(stats: PoolStats) -> None:
    """Report a database pool: ``stats()`` returns (size, in_use, waiting) of this process."""
    global _pool_stats
    _pool_stats = stats
    refresh_pool()


def refresh_pool() -> None:
    """Copy this process's pool figures into the gauges (each worker does so periodically)."""
    if _pool_stats is None:
        return
    size, in_use, waiting = _pool_stats()
    POOL_SIZE.set(size)
    POOL_IN_USE.set(in_use)
    POOL_WAITING.set(waiting)


SAMPLE_INTERVAL_S = 0.5
sampler_running = False  # in this process; read it before calling start_sampler()


def _forget_sampler() -> None:
    global sampler_running
    sampler_running = False


# Threads do not survive a fork: a forked child must start its own sampler.
os.register_at_fork(after_in_child=_forget_sampler)


def sample() -> None:
    """Publish this process's figures: the request tally and the pool gauges."""
    flush()
    refresh_pool()


def start_sampler() -> None:
    """Run ``sample()`` every 0.5 s in a daemon thread, once per process.

    The worker that answers a scrape cannot read the other workers' tallies or pools, so each
    worker publishes its own. Called on a request rather than at import so that it runs after
    gunicorn has forked. Under gevent the thread is a greenlet and ``time.sleep`` yields.
    """
    global sampler_running
    if sampler_running:
        return
    sampler_running = True

    def run() -> None:
        while True:
            time.sleep(SAMPLE_INTERVAL_S)
            try:
                sample()
            except Exception:  # a closing pool must not kill the sampler for good
                continue

    threading.Thread(target=run, name="metrics-sampler", daemon=True).start()


# Loaded in a worker that a server's main process forked or spawned: gunicorn's arbiter (its
# workers import this module), granian's main process (its workers run granian's worker loop).
_SUPERVISED_BY = ("gunicorn.arbiter", "granian.server.common")


def _service_processes() -> list[psutil.Process]:
    """This process, or the server's main process, with every process below it."""
    me = psutil.Process()
    root = me
    if any(name in sys.modules for name in _SUPERVISED_BY):  # a worker: the main is our parent
        parent = me.parent()
        root = parent if parent is not None else me
    return [root, *root.children(recursive=True)]


_LIVE_GAUGE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db")


def forget_dead_workers(directory: str, live: Iterable[int]) -> list[int]:
    """Drop the live-gauge files of processes not in ``live``; return their pids.

    gunicorn tells us when a worker dies (``child_exit`` in services/gunicorn.conf.py); granian
    replaces a dead worker without a hook. Either way a dead worker's in-flight requests and
    pool must stop counting (``livesum``), so every scrape checks the files against the
    service's processes. Counters and histograms stay: what the dead worker served happened.
    """
    alive = set(live)
    dead = set()
    for name in os.listdir(directory):
        match = _LIVE_GAUGE_FILE.fullmatch(name)
        if match and int(match.group(1)) not in alive:
            dead.add(int(match.group(1)))
    for pid in dead:
        multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
    return sorted(dead)


class ServiceProcessCollector(Collector):
    """prometheus_client's process metrics, summed over all processes of the service.

    Read with psutil at scrape time, so every worker counts even though only one answers.
    """

    def __init__(self, processes: list[psutil.Process] | None = None) -> None:
        # The service's processes at this scrape; None: look them up when collecting.
        self.processes = processes

    def collect(self) -> Iterable[Metric]:
        cpu = rss = fds = 0.0
        for proc in self.processes or _service_processes():
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    cpu += times.user + times.system
                    rss += proc.memory_info().rss
                    fds += proc.num_fds()
            except psutil.Error:  # a worker exited while we looked
                continue
        labels = [SERVICE, VARIANT]
        cpu_family = CounterMetricFamily(
            "process_cpu_seconds", "User and system CPU time of all processes.", labels=_LABELS
        )
        cpu_family.add_metric(labels, cpu)
        rss_family = GaugeMetricFamily(
            "process_resident_memory_bytes", "Resident memory of all processes.", labels=_LABELS
        )
        rss_family.add_metric(labels, rss)
        fds_family = GaugeMetricFamily("process_open_fds", "Open file descriptors.", labels=_LABELS)
        fds_family.add_metric(labels, fds)
        return [cpu_family, rss_family, fds_family]


if _registry is not None:
    _registry.register(ServiceProcessCollector())


def render() -> tuple[bytes, str]:
    """The ``/metrics`` body and its content type."""
    flush()  # this process's own requests are never stale
    registry = _registry
    if registry is None:
        processes = _service_processes()
        directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
        forget_dead_workers(directory, (p.pid for p in processes))
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(ServiceProcessCollector(processes))
    return generate_latest(registry), CONTENT_TYPE_LATEST
