"""What a database outage looks like from the clients' side: load, samples and the figures.

``hammer`` is one closed-loop client (the next request when the last one is answered),
``Sample`` one answered request, and ``outage_figures`` turns the samples of a run with
Postgres stopped at ``down`` and accepting connections again at ``up`` into the figures the
reliability benchmark quotes (``scripts/bench_reliability.py``). Every loop is bounded by a
deadline and by a stop event, and every request by the client's timeout.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

OK = 200
UNAVAILABLE = 503
READYZ = "/readyz"


@dataclass(frozen=True)
class Sample:
    """One request: when it was sent and answered (monotonic seconds) and what came back.

    ``status`` is None when no HTTP answer came (connection refused, reset, client timeout);
    ``error`` is the body's ``error`` field, or the exception's name.
    """

    route: str
    start: float
    end: float
    status: int | None
    error: str | None = None

    @property
    def latency_s(self) -> float:
        return self.end - self.start

    @property
    def ok(self) -> bool:
        return self.status == OK


def ask(client: httpx.Client, path: str) -> Sample:
    route = path.split("?", 1)[0]
    start = time.monotonic()
    try:
        response = client.get(path)
    except httpx.HTTPError as exc:
        return Sample(route, start, time.monotonic(), None, type(exc).__name__)
    end = time.monotonic()
    error = None
    if response.status_code != OK:
        try:
            error = str(response.json().get("error"))
        except ValueError:  # not JSON: name what came instead
            error = response.headers.get("content-type", "no content-type")
    return Sample(route, start, end, response.status_code, error)


def hammer(
    client: httpx.Client,
    paths: Sequence[str],
    stop: threading.Event,
    until: float,
    out: list[Sample],
    *,
    pause_s: float = 0.0,
    cpus: set[int] | None = None,
) -> None:
    """Request ``paths`` in turn until ``stop`` is set or the monotonic clock reaches ``until``.

    ``cpus`` pins this thread only (Linux affinity is per thread): the load runs where the CPU
    plan puts the generator, while the processes the caller starts keep their own affinity.
    """
    if cpus:
        os.sched_setaffinity(0, cpus)
    i = 0
    while not stop.is_set() and time.monotonic() < until:
        out.append(ask(client, paths[i % len(paths)]))
        i += 1
        if pause_s:
            stop.wait(pause_s)


def first(samples: Sequence[Sample], test: Callable[[Sample], bool]) -> Sample | None:
    """The earliest answered sample that passes ``test``."""
    return min((s for s in samples if test(s)), key=lambda s: s.end, default=None)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def outage_figures(
    samples: Sequence[Sample], down: float, up: float, finished: float
) -> dict[str, Any]:
    """The figures of one service over one outage.

    ``down`` is when the stop of Postgres was asked for, ``up`` when it accepted a connection
    again, ``finished`` when the load stopped. Latencies in ms, delays in ms after ``down``
    (readyz saying 503) or after ``up`` (readyz saying 200, full recovery).

    Full recovery is when the last failed request (anything but 200) was answered; None when
    a failure came in the last second of the run, so that recovery was not seen to hold.
    """
    load = [s for s in samples if s.route != READYZ]
    readyz = [s for s in samples if s.route == READYZ]
    failed = [s for s in load if not s.ok]
    unavailable = [s for s in samples if s.status == UNAVAILABLE]
    other = sorted({f"{s.status}:{s.error}" for s in samples if s.status not in (OK, UNAVAILABLE)})
    started_during = [s for s in load if down <= s.start < up]

    said_503 = first(readyz, lambda s: s.status == UNAVAILABLE and s.end >= down)
    # A 200 sent before the outage and answered after it would say nothing about the return.
    said_200 = first(readyz, lambda s: s.ok and s.end >= up and s.start >= down)
    last_failure = max((s.end for s in failed), default=None)
    if last_failure is None or last_failure <= up:
        recovery: float | None = 0.0
    elif last_failure > finished - 1.0:
        recovery = None
    else:
        recovery = last_failure - up
    return {
        "requests": len(load),
        "failed": len(failed),
        "unavailable_503": len(unavailable),
        "other_answers": other,
        "max_503_ms": _ms(max((s.latency_s for s in unavailable), default=None)),
        "median_503_ms": _ms(
            statistics.median(s.latency_s for s in unavailable) if unavailable else None
        ),
        "max_during_outage_ms": _ms(max((s.latency_s for s in started_during), default=None)),
        "readyz_503_after_ms": _ms(said_503.end - down if said_503 else None),
        "readyz_200_after_ms": _ms(said_200.end - up if said_200 else None),
        "recovered_after_ms": _ms(recovery),
        "ok_after_recovery": sum(1 for s in load if s.ok and s.start >= up),
    }


# What every variant must meet after an outage (docs/contract.md, "Database outages").
READYZ_WITHIN_MS = 1000.0
RECOVERY_WITHIN_MS = 2000.0


def missed_targets(figures: dict[str, Any], connect_timeout_s: float) -> list[str]:
    """The targets one service's ``outage_figures`` miss; [] when it meets them all.

    A 503 within the connect timeout plus one slot wait, which an outage bounds by one more
    connect timeout; /readyz 503 within 1 s of the stop and 200 within 1 s of the return; every
    request answered 200 again within 2 s of the return; no answer but 200 and 503.
    """
    bound_ms = 2 * connect_timeout_s * 1000

    def over(key: str, limit: float) -> bool:
        value = figures[key]
        return value is None or value > limit

    missed = []
    if figures["max_503_ms"] is not None and figures["max_503_ms"] > bound_ms:
        missed.append(f"503 within {bound_ms:,.0f} ms")
    if over("readyz_503_after_ms", READYZ_WITHIN_MS):
        missed.append("readyz 503 within 1 s")
    if over("readyz_200_after_ms", READYZ_WITHIN_MS):
        missed.append("readyz 200 within 1 s")
    if over("recovered_after_ms", RECOVERY_WITHIN_MS):
        missed.append("recovery within 2 s")
    if figures["other_answers"]:
        missed.append("only 200 and 503")
    return missed
