"""The lab's own workloads: defaults, results and what each promises to report."""

from __future__ import annotations

import re

import httpx
import pytest
from helpers import poll_until

from asynclab.lab import Lab
from asynclab.registry import SERVICES
from asynclab.variants import get_variant
from contract.checks import check_headers, check_json


def test_cpu_python_default(client: httpx.Client, framework: str) -> None:
    body = check_json(client.get("/cpu/python"), framework)
    assert set(body) == {"work", "result"}
    assert body["work"] == 100_000
    assert type(body["result"]) is int


def test_cpu_native_default(client: httpx.Client, framework: str) -> None:
    body = check_json(client.get("/cpu/native"), framework)
    assert set(body) == {"work", "result"}
    assert body["work"] == 40_000
    assert re.fullmatch(r"[0-9a-f]{64}", body["result"]), body


@pytest.mark.parametrize(
    ("path", "work"),
    [("/cpu/python", 1), ("/cpu/python", 12_345), ("/cpu/native", 1), ("/cpu/native", 2_000)],
)
def test_cpu_work_is_deterministic_and_shared(
    clients: dict[str, httpx.Client], path: str, work: int
) -> None:
    """Same work, same result: twice from one service, and from both services."""
    results = []
    for name, c in clients.items():
        for _ in range(2):
            body = check_json(c.get(path, params={"work": work}), name)
            assert body["work"] == work
            results.append(body["result"])
    assert len(set(results)) == 1, results


@pytest.mark.parametrize("path", ["/cpu/python", "/cpu/native"])
def test_cpu_result_depends_on_work(client: httpx.Client, path: str) -> None:
    results = {client.get(path, params={"work": w}).json()["result"] for w in (1, 2, 3)}
    assert len(results) == 3


@pytest.mark.parametrize("path", ["/io/db", "/io/upstream", "/io/sleep", "/pitfall/blocking"])
@pytest.mark.parametrize(("params", "ms"), [({}, 50), ({"ms": "0"}, 0), ({"ms": "20"}, 20)])
def test_waits_report_their_ms(
    client: httpx.Client, framework: str, path: str, params: dict[str, str], ms: int
) -> None:
    assert check_json(client.get(path, params=params), framework) == {"ms": ms}


@pytest.mark.parametrize(
    ("params", "calls", "ms"), [({}, 5, 50), ({"calls": "3", "ms": "20"}, 3, 20)]
)
def test_fanout(
    client: httpx.Client, framework: str, lab: Lab, params: dict[str, str], calls: int, ms: int
) -> None:
    body = check_json(client.get("/fanout", params=params), framework)
    assert set(body) == {"calls", "ms", "mode", "elapsed_ms"}
    assert (body["calls"], body["ms"]) == (calls, ms)
    variant = get_variant(getattr(lab.settings, f"{framework}_variant"))
    assert body["mode"] == ("concurrent" if variant.concurrent_calls else "sequential")
    assert isinstance(body["elapsed_ms"], float)
    # A lower bound only: every call waits at least ms, in sequence each wait adds up.
    waits = calls if body["mode"] == "sequential" else 1
    assert body["elapsed_ms"] >= 0.9 * waits * ms, body


def test_healthz(client: httpx.Client, framework: str) -> None:
    assert check_json(client.get("/healthz"), framework) == {"status": "ok"}


def test_readyz(client: httpx.Client, framework: str) -> None:
    assert check_json(client.get("/readyz"), framework) == {"status": "ready"}


def test_metrics(client: httpx.Client, framework: str) -> None:
    client.get("/json")
    client.get("/no/such/route")

    def scraped() -> httpx.Response | None:
        # Another worker may have answered, and it publishes its requests within 0.5 s.
        response = client.get("/metrics")
        assert response.status_code == 200
        return response if 'route="<unmatched>"' in response.text else None

    response = poll_until(scraped, "the requests to reach /metrics")
    assert response.headers["content-type"].startswith("text/plain")
    check_headers(response, framework)
    text = response.text
    for name in ["http_requests_total", "http_request_duration_seconds", "http_requests_in_flight"]:
        assert re.search(rf"^# TYPE {name} ", text, re.M), name
    assert re.search(rf'^http_requests_total\{{[^}}]*service="{framework}"', text, re.M)
    assert 'route="<unmatched>"' in text
    assert 'route="/no/such/route"' not in text
    has_lag = re.search(r"^# TYPE event_loop_lag_seconds ", text, re.M) is not None
    assert has_lag == SERVICES[framework].event_loop
