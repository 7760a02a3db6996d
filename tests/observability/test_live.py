"""The dashboards against a real Prometheus scraping the real lab while real Locust runs.

Every PromQL expression of every panel (and every annotation) must return data, and every
panel of "Services" must show every service by default (of the event-loop panel, every one with
an event loop), Node and Go included.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import poll_until, terminate

from asynclab.registry import SERVICES
from asynclab.settings import ROOT
from tests.observability.dashboards import (
    DASHBOARDS,
    Query,
    load,
    queries,
    substitute,
    variable_values,
)

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
SCENARIO = "observability-test"
# cAdvisor runs only in compose; the native lab has no containers to show.
COMPOSE_ONLY = re.compile(r"\bcontainer_")
SERVICE_METRICS = re.compile(r"\b(http_|db_pool_|process_|service_variant)")
ASYNC_ONLY = {"Event-loop lag (async only)"}
# A query variable's definition: label_values(series selector, label).
LABEL_VALUES = re.compile(r"label_values\((\w+(?:\{.*\})?),\s*(\w+)\)")
# How long a test waits for Prometheus to show what it needs: a few scrapes (2 s apart) and
# rule evaluations on an idle machine, far more on a busy one.
TIMEOUT_S = 180.0


class Prometheus:
    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=10)
        self.since = time.time()

    def query_range(self, expr: str) -> list[dict[str, Any]]:
        params = {"query": expr, "start": self.since, "end": time.time(), "step": "2s"}
        response = self.client.get("/api/v1/query_range", params=params)
        assert response.status_code == 200, f"{expr}: {response.text}"
        result: list[dict[str, Any]] = response.json()["data"]["result"]
        return result

    def label_values(self, label: str, metric: str) -> list[str]:
        response = self.client.get(f"/api/v1/label/{label}/values", params={"match[]": metric})
        response.raise_for_status()
        values: list[str] = response.json()["data"]
        return values


def lacking(prometheus: Prometheus, query: Query) -> str | None:
    """Why ``query`` does not (yet) show what its panel promises, or None when it does."""
    result = prometheus.query_range(query.expr)
    if not result:
        return "no data"
    if query.dashboard == "Services" and SERVICE_METRICS.search(query.expr):
        services = {series["metric"].get("service") for series in result}
        wanted = {
            name
            for name, service in SERVICES.items()
            if query.panel not in ASYNC_ONLY or service.event_loop
        }
        if services != wanted:
            return f"services {sorted(map(str, services))}, want {sorted(wanted)}"
    return None


def all_queries() -> list[Query]:
    return [q for path in DASHBOARDS for q in queries(path) if not COMPOSE_ONLY.search(q.expr)]


@pytest.fixture
def prometheus(lab: Any) -> Iterator[Prometheus]:
    if "prometheus" not in lab.manifest()["processes"]:
        pytest.skip("Prometheus is not installed (Debian package prometheus)")
    prometheus = Prometheus(lab.settings.url(lab.settings.prometheus_port))
    yield prometheus
    prometheus.client.close()


@pytest.fixture
def locust_run(lab: Any, prometheus: Prometheus) -> Iterator[subprocess.Popen[bytes]]:
    """Light headless Locust against every service, its metrics scraped by the lab's Prometheus."""
    s = lab.settings
    env = {
        **os.environ,
        # The bench's port, which the lab's Prometheus scrapes beside the web UI's.
        "LOCUST_METRICS_PORT": str(s.bench_metrics_port),
        "LOCUST_SCENARIO": SCENARIO,
        **{f"{name.upper()}_URL": s.service_url(name) for name in SERVICES},
    }
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"]
    # The run time only bounds a Locust that outlives a killed test: the fixture stops it.
    argv += ["--users", "4", "--spawn-rate", "4", "--run-time", f"{2 * TIMEOUT_S:g}s"]
    argv += ["--only-summary", "--loglevel", "WARNING"]
    log = s.logs_dir / "locust-observability.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        terminate(proc)


def test_every_dashboard_query_returns_data(
    prometheus: Prometheus, locust_run: subprocess.Popen[bytes]
) -> None:
    pending = all_queries()
    problems: dict[Query, str] = {}
    deadline = time.monotonic() + TIMEOUT_S
    while pending and time.monotonic() < deadline:
        assert locust_run.poll() is None, "locust exited early"
        problems = {}
        for query in pending:
            reason = lacking(prometheus, query)
            if reason is not None:
                problems[query] = reason
        pending = list(problems)
        if pending:
            time.sleep(1)  # one Prometheus evaluation is 2 s; polling faster gains nothing
    assert not problems, "\n".join(f"{q}  -> {why}" for q, why in problems.items())

    for path in DASHBOARDS:
        dashboard = load(path)
        values = variable_values(dashboard)
        for var in dashboard["templating"]["list"]:
            if var["type"] == "custom":
                # A fixed list (the Service selector): each of its values must have data.
                offered = var["query"].split(",")
                seen = prometheus.label_values(var["name"], "http_requests_total")
                assert set(offered) <= set(seen), f"{path.stem}: ${var['name']} offers {offered}"
                continue
            match = LABEL_VALUES.fullmatch(var["definition"])
            assert match, var["definition"]
            series, label = substitute(match.group(1), values), match.group(2)
            assert prometheus.label_values(label, series), f"{path.stem}: ${var['name']} is empty"


def test_the_scenario_and_its_generator_are_exported(
    prometheus: Prometheus, locust_run: subprocess.Popen[bytes]
) -> None:
    def info() -> list[dict[str, Any]]:
        return prometheus.query_range(f'locust_scenario_info{{scenario="{SCENARIO}"}}')

    [series] = poll_until(info, "Prometheus to scrape the scenario's info", TIMEOUT_S)
    # One user class per service of the registry (tests/observability/locustfile.py).
    classes = ",".join(sorted(f"{name.title()}User" for name in SERVICES))
    assert series["metric"]["user_classes"] == classes
    wanted = {"/json", "/db", "/io/db", "/items/{id}", "Aggregated"}

    def names() -> set[str]:
        return {s["metric"]["name"] for s in prometheus.query_range("locust_requests_per_second")}

    # Each route appears once Locust has sent it and Prometheus has scraped it since.
    poll_until(lambda: wanted <= names(), f"Prometheus to see {sorted(wanted)}", TIMEOUT_S)


def test_prometheus_scrapes_the_web_ui_and_the_bench_generator_at_once(
    lab: Any, prometheus: Prometheus, locust_run: subprocess.Popen[bytes]
) -> None:
    # `make lab` then `make bench`: the web UI's Locust and the bench's both run; the
    # instance label tells them apart.
    manifest = lab.manifest()
    assert "locust" in manifest["processes"], manifest["skipped"]
    s = lab.settings
    expected = {f"{s.host}:{s.locust_metrics_port}", f"{s.host}:{s.bench_metrics_port}"}

    def both_up() -> bool:
        series = prometheus.query_range('up{job="locust"} == 1')
        return {x["metric"]["instance"] for x in series} == expected

    poll_until(both_up, "Prometheus to scrape both Locust masters", TIMEOUT_S)
