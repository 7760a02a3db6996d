"""wrk's text output is read correctly (the live comparison runs in test_matrix.py)."""

from __future__ import annotations

import pytest

from asynclab.bench.wrk import parse, wrk_seconds

OUTPUT = """Running 4s test @ http://127.0.0.1:8002/io/db?ms=50
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   210.12ms   20.01ms 401.00ms   90.00%
    Req/Sec   305.00     20.00   340.00     70.00%
  Latency Distribution
     50%  205.50ms
     75%  215.00ms
     90%  230.10ms
     99%    1.02s
  1220 requests in 4.01s, 180.00KB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:    304.24
Transfer/sec:     44.89KB
"""


def test_parse() -> None:
    found = parse(OUTPUT)
    assert found["rps"] == pytest.approx(304.24)
    assert found["requests"] == 1220
    assert found["window_s"] == pytest.approx(4.01)
    assert found["p50_ms"] == pytest.approx(205.5)
    assert found["p99_ms"] == pytest.approx(1020.0)
    assert found["errors"] == 7


def test_parse_microseconds_and_no_errors() -> None:
    text = OUTPUT.replace("205.50ms", "850.00us").replace("  Socket errors", "  X").replace(
        "  Non-2xx", "  Y")  # fmt: skip
    found = parse(text)
    assert found["p50_ms"] == pytest.approx(0.85)
    assert found["errors"] == 0


@pytest.mark.parametrize(
    ("seconds", "expected"), [(0.5, "1s"), (1.0, "1s"), (2.5, "3s"), (10, "10s")]
)
def test_wrk_takes_whole_seconds(seconds: float, expected: str) -> None:
    assert wrk_seconds(seconds) == expected
