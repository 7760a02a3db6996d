"""The request tally: batched flushes give exactly the figures of one observe() per request."""

from __future__ import annotations

import random
import threading

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from services.common.metrics import LATENCY_BUCKETS, METHODS, UNMATCHED, route_label
from services.common.tally import RequestTally

LABELS = ("svc", "var")


def metrics(registry: CollectorRegistry) -> tuple[Counter, Histogram, Gauge]:
    requests = Counter(
        "http_requests", "h", ["s", "v", "route", "method", "status"], registry=registry
    )
    duration = Histogram(
        "http_request_duration_seconds",
        "h",
        ["s", "v", "route", "method"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    in_flight = Gauge("http_requests_in_flight", "h", ["s", "v"], registry=registry)
    return requests, duration, in_flight


def exposition(registry: CollectorRegistry) -> tuple[list[str], list[float]]:
    """The exposition's lines, less the sums, and the sums apart.

    Creation timestamps differ between any two registries; sums are added in another order
    (per batch, then batch by batch), so only they may differ, in the last bits.
    """
    lines, sums = [], []
    for line in generate_latest(registry).decode().splitlines():
        if "_sum{" in line:
            sums.append(float(line.rsplit(" ", 1)[1]))
        elif "_created" not in line:
            lines.append(line)
    return lines, sums


def test_flushed_tally_matches_one_observe_per_request() -> None:
    rng = random.Random(4)
    # Bounds exactly, just around them, zero and beyond the last bound (+Inf).
    durations = [*LATENCY_BUCKETS, 0.0, 11.0, 1e9]
    durations += [b * f for b in LATENCY_BUCKETS for f in (0.999, 1.001)]
    durations += [rng.uniform(0, 0.2) for _ in range(2000)]
    keys = [("/json", "GET", "200"), ("/items/{id}", "GET", "404"), ("/json", "POST", "405")]
    requests_seen = [(*rng.choice(keys), seconds) for seconds in durations]

    expected_registry = CollectorRegistry()
    counter, histogram, expected_in_flight = metrics(expected_registry)
    expected_in_flight.labels(*LABELS).set(1)
    for route, method, status, seconds in requests_seen:
        counter.labels(*LABELS, route, method, status).inc()
        histogram.labels(*LABELS, route, method).observe(seconds)

    registry = CollectorRegistry()
    requests, duration, in_flight = metrics(registry)
    tally = RequestTally(
        requests, duration, in_flight.labels(*LABELS), LABELS, METHODS, route_label
    )
    for i, (route, method, status, seconds) in enumerate(requests_seen):
        tally.started()
        tally.finished((route, method, status, seconds))
        if i % 700 == 0:  # several flushes, each adding to what the metrics already hold
            tally.flush()
    tally.started()  # one request still running
    tally.flush()
    lines, sums = exposition(registry)
    expected_lines, expected_sums = exposition(expected_registry)
    assert lines == expected_lines
    assert sums == pytest.approx(expected_sums, rel=1e-12)


def test_no_request_is_lost_between_concurrent_threads_and_flushes() -> None:
    registry = CollectorRegistry()
    requests, duration, in_flight = metrics(registry)
    tally = RequestTally(
        requests, duration, in_flight.labels(*LABELS), LABELS, METHODS, route_label
    )
    threads, per_thread = 8, 5000
    done = threading.Event()

    def serve() -> None:
        for _ in range(per_thread):
            tally.started()
            tally.finished(("/json", "GET", "200", 0.0001))

    def flush_continuously() -> None:
        while not done.is_set():
            tally.flush()

    flusher = threading.Thread(target=flush_continuously)
    flusher.start()
    workers = [threading.Thread(target=serve) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    done.set()
    flusher.join()
    tally.flush()

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"s": "svc", "v": "var", **labels})

    total = threads * per_thread
    assert sample("http_requests_total", route="/json", method="GET", status="200") == total
    assert sample("http_request_duration_seconds_count", route="/json", method="GET") == total
    assert sample("http_request_duration_seconds_bucket", route="/json", method="GET", le="0.0005")
    assert sample("http_requests_in_flight") == 0


def test_statuses_become_text_and_unusual_methods_one_label() -> None:
    registry = CollectorRegistry()
    requests, duration, in_flight = metrics(registry)
    tally = RequestTally(
        requests, duration, in_flight.labels(*LABELS), LABELS, METHODS, route_label
    )
    for method, status in [("GET", 200), ("GET", "200"), ("BREW", 405), ("PURGE", "405")]:
        tally.started()
        tally.finished(("/json", method, status, 0.001))
    tally.flush()

    def count(method: str, status: str) -> float | None:
        labels = {"s": "svc", "v": "var", "route": "/json", "method": method, "status": status}
        return registry.get_sample_value("http_requests_total", labels)

    assert count("GET", "200") == 2
    assert count("OTHER", "405") == 2


def test_routes_are_labelled_as_templates_once_per_flush() -> None:
    registry = CollectorRegistry()
    requests, duration, in_flight = metrics(registry)
    tally = RequestTally(
        requests, duration, in_flight.labels(*LABELS), LABELS, METHODS, route_label
    )
    # FastAPI's rule, Flask's rule, an already made template and no match at all.
    for rule in ["/items/{id:int}", "/items/<int:id>", "/items/{id}", None]:
        tally.started()
        tally.finished((rule, "GET", 200, 0.001))
    tally.flush()

    def count(route: str) -> float | None:
        labels = {"s": "svc", "v": "var", "route": route, "method": "GET", "status": "200"}
        return registry.get_sample_value("http_requests_total", labels)

    assert count("/items/{id}") == 3
    assert count(UNMATCHED) == 1
    durations = {"s": "svc", "v": "var", "route": "/items/{id}", "method": "GET"}
    assert registry.get_sample_value("http_request_duration_seconds_count", durations) == 3
    assert registry.get_sample_value("http_request_duration_seconds_sum", durations) == (
        pytest.approx(0.003)
    )
