"""Locust plugin: the master's live figures in the Prometheus format.

A locustfile enables it with ``import asynclab.locust_exporter`` (after ``import locust``).
The master (or a lone local runner, never a worker) serves the metrics on
``LOCUST_METRICS_HOST:LOCUST_METRICS_PORT``, headless or not, and also at ``/metrics`` of the
web UI when there is one. The lab sets the port (the web UI's ``locust_metrics_port``, a
bench's ``bench_metrics_port``); a Locust started by hand uses ``locust_metrics_port``
(127.0.0.1:9646 by default). When that port is taken the plugin says so and Locust runs on
without it. Figures are read from Locust's own stats at scrape time, so the plugin adds nothing
to the request path.

Every metric carries ``scenario``: ``LOCUST_SCENARIO`` when set (the bench sets it), else the
locustfile names. ``locust_running`` is 1 while users are spawning or running; the dashboards
draw bench start and stop as annotations from it.

A run's last seconds would never reach Prometheus if Locust exited right after them (and a
short run, whose generator was too busy to answer a scrape in time, not at all): with
``LOCUST_METRICS_FINAL_SCRAPE_S`` set (the bench sets it when the lab's Prometheus is up), Locust
waits, that long at most, for one scrape after the run before it quits.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import locust
from locust.env import Environment
from locust.runners import (
    STATE_RUNNING,
    STATE_SPAWNING,
    STATE_STOPPED,
    MasterRunner,
    WorkerRunner,
)
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.exposition import start_http_server
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from asynclab.settings import LabSettings

QUANTILES = (0.5, 0.95, 0.99)
AGGREGATED = "Aggregated"

log = logging.getLogger(__name__)


def scenario_name(environment: Environment) -> str:
    explicit = os.environ.get("LOCUST_SCENARIO")
    if explicit:
        return explicit
    files = environment.parsed_locustfiles or [environment.locustfile or "locust"]
    return ",".join(Path(f).stem for f in files)


class LocustCollector(Collector):
    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self.scrapes = 0
        # Whether a scrape has seen the run stopped: it took the final figures.
        self.saw_stopped = False

    def collect(self) -> Iterable[Metric]:
        self.scrapes += 1
        env = self.environment
        runner = env.runner
        if runner is None:
            return []
        if runner.state == STATE_STOPPED:
            self.saw_stopped = True
        scenario = scenario_name(env)
        base = ["scenario"]
        per_request = [*base, "name", "method"]

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, doc, labels=base)
            family.add_metric([scenario], value)
            return family

        user_classes = ",".join(sorted(u.__name__ for u in env.user_classes))
        shape = type(env.shape_class).__name__ if env.shape_class else ""
        info = GaugeMetricFamily(
            "locust_scenario_info",
            "The scenario the generator runs: its user classes and load shape.",
            labels=[*base, "user_classes", "shape"],
        )
        info.add_metric([scenario, user_classes, shape], 1)
        running = runner.state in (STATE_SPAWNING, STATE_RUNNING)
        families: list[Metric] = [
            info,
            gauge("locust_running", "1 while users are spawning or running.", float(running)),
            gauge("locust_users", "Simulated users right now.", runner.user_count),
            gauge(
                "locust_workers",
                "Connected worker processes (0 when running without workers).",
                runner.worker_count if isinstance(runner, MasterRunner) else 0,
            ),
        ]
        cpu = GaugeMetricFamily(
            "locust_cpu_percent",
            "CPU use of each generator process (100 = one core): above ~90 the generator, "
            "not the service, limits the run.",
            labels=[*base, "process"],
        )
        cpu.add_metric([scenario, "master"], runner.current_cpu_usage)
        if isinstance(runner, MasterRunner):
            for worker in runner.clients.values():
                cpu.add_metric([scenario, f"worker-{worker.id}"], worker.cpu_usage)
        families.append(cpu)

        rps = GaugeMetricFamily(
            "locust_requests_per_second",
            "Requests per second over the last seconds.",
            labels=per_request,
        )
        fails = GaugeMetricFamily(
            "locust_failures_per_second",
            "Failures per second over the last seconds.",
            labels=per_request,
        )
        requests = CounterMetricFamily(
            "locust_requests", "Requests since the start.", labels=per_request
        )
        failures = CounterMetricFamily(
            "locust_failures", "Failures since the start.", labels=per_request
        )
        latency = GaugeMetricFamily(
            "locust_response_time_seconds",
            "Response-time percentiles of the last ~10 s (since the start while younger).",
            labels=[*per_request, "quantile"],
        )
        stats = runner.stats
        for entry in [*stats.entries.values(), stats.total]:
            name = AGGREGATED if entry is stats.total else entry.name
            labels = [scenario, name, entry.method or ""]
            rps.add_metric(labels, entry.current_rps)
            fails.add_metric(labels, entry.current_fail_per_sec)
            requests.add_metric(labels, entry.num_requests)
            failures.add_metric(labels, entry.num_failures)
            if entry.num_requests:
                for q in QUANTILES:
                    ms = _current_percentile(entry, q)
                    latency.add_metric([*labels, str(q)], ms / 1000)
        families += [rps, fails, requests, failures, latency]
        return families


def _current_percentile(entry: Any, q: float) -> float:
    current = None
    if entry.use_response_times_cache:
        current = entry.get_current_response_time_percentile(q)
    return float(current if current is not None else entry.get_response_time_percentile(q))


def metrics_port() -> int:
    """``LOCUST_METRICS_PORT`` as the lab sets it, else the web UI's ``locust_metrics_port``."""
    explicit = os.environ.get("LOCUST_METRICS_PORT")
    return int(explicit) if explicit else LabSettings().locust_metrics_port


def final_scrape_s() -> float:
    explicit = os.environ.get("LOCUST_METRICS_FINAL_SCRAPE_S")
    return float(explicit) if explicit else 0.0


def wait_for_the_final_scrape(collector: LocustCollector, timeout_s: float) -> bool:
    """Whether a scrape has seen the run stopped, or one came now (a run that ends otherwise),
    within ``timeout_s``. Locust runs under gevent: the sleep yields to the server's greenlet,
    which answers the scrape meanwhile."""
    seen = collector.scrapes
    deadline = time.monotonic() + timeout_s
    while not collector.saw_stopped and collector.scrapes == seen:
        if time.monotonic() > deadline:
            log.warning("no scrape of the generator's final figures within %g s", timeout_s)
            return False
        time.sleep(0.05)
    return True


def _serve(environment: Environment) -> None:
    registry = CollectorRegistry(auto_describe=True)
    collector = LocustCollector(environment)
    # auto_describe collects once at registration: that is no scrape.
    registry.register(collector)
    collector.scrapes = 0
    host = os.environ.get("LOCUST_METRICS_HOST", "127.0.0.1")
    port = metrics_port()
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        # The figures are a bonus: a taken port must not cost the user the load test itself.
        log.warning(
            "generator metrics not served on %s:%s (%s): Prometheus will not see this Locust; "
            "set LOCUST_METRICS_PORT to a free port",
            host,
            port,
            exc.strerror or exc,
        )
    else:
        linger = final_scrape_s()

        def quitting(**_: Any) -> None:
            if linger > 0:
                wait_for_the_final_scrape(collector, linger)
            server.shutdown()

        environment.events.quitting.add_listener(quitting)  # type: ignore[no-untyped-call]

    web_ui = environment.web_ui
    if web_ui is not None and web_ui.app is not None:

        def metrics() -> tuple[bytes, int, dict[str, str]]:
            return generate_latest(registry), 200, {"Content-Type": CONTENT_TYPE_LATEST}

        web_ui.app.add_url_rule("/metrics", "asynclab_metrics", metrics)


def _on_init(environment: Environment, **_kwargs: Any) -> None:
    if not isinstance(environment.runner, WorkerRunner):
        _serve(environment)


locust.events.init.add_listener(_on_init)  # type: ignore[no-untyped-call]
