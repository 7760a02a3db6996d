"""Every service's /metrics against the contract, on the real lab (gunicorn, uvicorn, Postgres)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
import psutil
import pytest
from helpers import poll_until

from asynclab.registry import SERVICES
from asynclab.variants import get_variant
from services.common.metrics import METHODS
from tests.observability.scrape import samples, value

ASYNC_ONLY = {"event_loop_lag_seconds"}
CONTRACT = {
    "http_requests_total",
    "http_request_duration_seconds_bucket",
    "http_request_duration_seconds_count",
    "http_request_duration_seconds_sum",
    "http_requests_in_flight",
    "db_pool_size",
    "db_pool_in_use",
    "db_pool_waiting",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_open_fds",
}


def url(lab: Any, framework: str) -> str:
    base: str = lab.settings.service_url(framework)
    return base


def exercise(base_url: str) -> None:
    """One request of each kind whose labels the comparison needs."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for method, path in [
            ("GET", "/json"),
            ("GET", "/db"),
            ("GET", "/items/2147483647"),
            ("GET", "/no/such/route"),
            ("POST", "/json"),
            ("BREW", "/json"),
        ]:
            client.request(method, path)


def shape(base_url: str) -> set[tuple[str, frozenset[str]]]:
    return {(s.name, frozenset(s.labels)) for s in samples(base_url)}


def test_every_service_exports_the_same_names_and_labels(lab: Any) -> None:
    for framework in SERVICES:
        exercise(url(lab, framework))

    def common(series: set[tuple[str, frozenset[str]]]) -> set[tuple[str, frozenset[str]]]:
        return {s for s in series if s[0] not in ASYNC_ONLY}

    def shapes() -> dict[str, set[tuple[str, frozenset[str]]]] | None:
        # Each worker publishes its requests within 0.5 s (see services/common/tally.py).
        found = {f: shape(url(lab, f)) for f in SERVICES}
        first = common(next(iter(found.values())))
        same = all(common(series) == first for series in found.values())
        return found if same and {name for name, _ in first} >= CONTRACT else None

    found = poll_until(shapes, "every service to publish the same series")
    first = common(next(iter(found.values())))
    assert {name for name, _ in first} >= CONTRACT
    for framework, series in found.items():
        assert common(series) == first, framework
        # The lag gauge exists only where there is an event loop (a constant 0 would mislead).
        names = {name for name, _ in series}
        has_loop = SERVICES[framework].event_loop
        assert names & ASYNC_ONLY == (ASYNC_ONLY if has_loop else set()), framework


@pytest.mark.parametrize("framework", SERVICES)
def test_routes_are_templates_and_unknown_paths_one_label(lab: Any, framework: str) -> None:
    base = url(lab, framework)
    exercise(base)

    def routes() -> set[str]:
        return {s.labels["route"] for s in samples(base) if s.name == "http_requests_total"}

    def wrong_method_seen() -> bool:
        return value(base, "http_requests_total", route="/json", method="POST", status="405") >= 1

    # Each worker publishes its requests within 0.5 s (see services/common/tally.py).
    poll_until(lambda: {"/json", "/db", "/items/{id}", "<unmatched>"} <= routes(), "the routes")
    poll_until(wrong_method_seen, "the 405 of POST /json")
    assert not any("2147483647" in r or "/no/such" in r for r in routes())
    # (A known path with the wrong method keeps its route template: the 405 above.)
    assert value(base, "http_requests_total", route="/metrics") == 0  # scrapes are not traffic
    methods = {s.labels["method"] for s in samples(base) if s.name == "http_requests_total"}
    # (uvicorn's parser already refuses unknown methods; gunicorn passes them on.)
    assert methods <= METHODS | {"OTHER"}


@pytest.mark.parametrize("framework", SERVICES)
def test_pool_and_process_figures_cover_the_service(lab: Any, framework: str) -> None:
    base = url(lab, framework)
    variant = get_variant(lab.manifest()["variants"][framework]["name"])
    assert value(base, "db_pool_size") == variant.db_slots(lab.settings)
    assert value(base, "process_resident_memory_bytes") > 10_000_000
    assert value(base, "process_cpu_seconds_total") > 0
    assert value(base, "process_open_fds") > 0


@pytest.fixture(params=["flask-sync", "fastapi-workers", "flask-granian"])
def multiworker(lab: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    """A service on several workers of gunicorn or granian (switching there and back)."""
    variant = get_variant(request.param)
    assert variant.processes(lab.settings) == 3
    before = lab.manifest()["variants"][variant.framework]["name"]
    if before != variant.name:
        lab.switch(variant.framework, variant.name)
    try:
        yield url(lab, variant.framework)
    finally:
        if before != variant.name:
            lab.switch(variant.framework, before)


def test_counts_add_up_across_workers(lab: Any, multiworker: str) -> None:
    """N requests spread over 3 workers make a counter of exactly N, whichever worker answers."""
    [framework] = [f for f in SERVICES if url(lab, f) == multiworker]
    worker_files = lab.metrics_dir(framework)
    json_get = {"route": "/json", "method": "GET"}
    before = value(multiworker, "http_requests_total", status="200", **json_get)
    timed_before = value(multiworker, "http_request_duration_seconds_count", **json_get)
    sent = 0

    def send_batch() -> bool:
        nonlocal sent
        for _ in range(20):  # a new connection each time, so the kernel spreads them
            assert httpx.get(f"{multiworker}/json", timeout=10).status_code == 200
            sent += 1
        return len(list(worker_files.glob("counter_*.db"))) >= 2

    poll_until(send_batch, "requests to reach at least two workers")

    def counted() -> tuple[float, float] | None:
        # Every worker publishes its tally within 0.5 s; until then a scrape may count fewer.
        after = value(multiworker, "http_requests_total", status="200", **json_get) - before
        timed = value(multiworker, "http_request_duration_seconds_count", **json_get)
        timed -= timed_before
        return (after, timed) if after >= sent and timed >= sent else None

    after, timed = poll_until(counted, f"the {sent} requests to be counted")
    assert after == sent
    assert timed == sent


def rss(processes: list[psutil.Process]) -> float:
    total = 0.0
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


def test_granian_workers_count_while_they_live(lab: Any) -> None:
    """granian's main process and every worker count; a worker killed (and replaced, as
    gunicorn's arbiter would) stops counting in the live gauges, though no hook says it died."""
    record = lab.switch("flask", "flask-granian")
    base = lab.settings.service_url("flask")
    slots = get_variant("flask-granian").db_slots(lab.settings)
    try:
        main = psutil.Process(record.pid)

        def three_workers() -> list[psutil.Process] | None:
            workers = main.children()
            return workers if len(workers) == 3 else None

        workers = poll_until(three_workers, "granian's 3 workers")
        assert value(base, "db_pool_size") == slots
        # Memory of the main process and of all three workers, not of the one that answers.
        assert value(base, "process_resident_memory_bytes") >= 0.8 * rss([main, *workers])

        victim = workers[0]
        victim.kill()

        def replaced() -> bool:
            pids = {w.pid for w in main.children()}
            return len(pids) == 3 and victim.pid not in pids

        poll_until(replaced, "granian to replace the killed worker")
        # Without the dead worker's files forgotten its pool would still count (32 of 24).
        poll_until(lambda: value(base, "db_pool_size") == slots, f"db_pool_size back at {slots}")
        files = [p.name for p in lab.metrics_dir("flask").iterdir()]
        assert not [name for name in files if name.endswith(f"_{victim.pid}.db") and "live" in name]
    finally:
        lab.switch("flask", lab.settings.variant("flask"))
