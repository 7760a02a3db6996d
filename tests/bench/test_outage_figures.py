"""The outage figures from recorded samples: Postgres asked to stop at t=10, back at t=20."""

from __future__ import annotations

from typing import Any

from asynclab.bench.outage import Sample, missed_targets, outage_figures

DOWN, UP, FINISHED = 10.0, 20.0, 30.0


def samples() -> list[Sample]:
    return [
        Sample("/db", 1.0, 1.01, 200),
        Sample("/readyz", 9.0, 9.01, 200),
        Sample("/db", 9.9, 10.5, 503, "database_unavailable"),  # waited 600 ms for its 503
        Sample("/readyz", 10.1, 10.3, 503, "database_unavailable"),
        Sample("/io/db", 12.0, 12.002, 503, "database_unavailable"),
        Sample("/readyz", 19.0, 20.4, 200),  # sent during the outage, answered after the return
        Sample("/readyz", 20.4, 20.5, 200),
        Sample("/db", 20.1, 20.9, 503, "database_unavailable"),  # the last failure
        Sample("/db", 21.0, 21.01, 200),
        Sample("/io/db", 21.0, 21.02, 200),
    ]


def test_figures_of_an_outage() -> None:
    fig = outage_figures(samples(), DOWN, UP, FINISHED)
    assert fig == {
        "requests": 6,
        "failed": 3,
        "unavailable_503": 4,
        "other_answers": [],
        "max_503_ms": 800.0,
        "median_503_ms": 400.0,  # of 600, 200, 2 and 800 ms
        "max_during_outage_ms": 2.0,  # the one request sent between the stop and the return
        "readyz_503_after_ms": 300.0,
        "readyz_200_after_ms": 400.0,
        "recovered_after_ms": 900.0,
        "ok_after_recovery": 2,
    }
    assert missed_targets(fig, connect_timeout_s=3.0) == []


def test_what_is_never_seen_is_none_and_misses_its_target() -> None:
    found = [s for s in samples() if s.route != "/readyz" or s.end < DOWN]
    found.append(Sample("/db", 29.5, 29.6, None, "ReadError"))  # a failure at the very end
    fig = outage_figures(found, DOWN, UP, FINISHED)
    assert fig["readyz_503_after_ms"] is None
    assert fig["readyz_200_after_ms"] is None
    assert fig["recovered_after_ms"] is None  # never seen to hold
    assert fig["other_answers"] == ["None:ReadError"]
    assert missed_targets(fig, connect_timeout_s=3.0) == [
        "readyz 503 within 1 s",
        "readyz 200 within 1 s",
        "recovery within 2 s",
        "only 200 and 503",
    ]


def test_a_503_slower_than_two_connect_timeouts_misses() -> None:
    fig: dict[str, Any] = outage_figures(samples(), DOWN, UP, FINISHED)
    assert missed_targets(fig, connect_timeout_s=0.3) == ["503 within 600 ms"]


def test_no_outage_seen_is_a_full_recovery() -> None:
    fig = outage_figures([Sample("/db", 1.0, 1.01, 200)], DOWN, UP, FINISHED)
    assert fig["recovered_after_ms"] == 0.0
    assert fig["max_503_ms"] is None
