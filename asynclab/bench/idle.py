"""Wait until the services have drained what the previous load left in their queues.

When a generator stops, requests it had sent are still queued in the service (gunicorn's
backlog, an event loop's tasks) and are served anyway. Measuring before they drain would
charge them to the next run: with 64 connections on ``flask-sync`` and ``/io/db?ms=50`` that is
over a second of a three-second window. Both services of a pair share the service CPU, so the
one not measured next must have drained too.
"""

from __future__ import annotations

import time

import httpx

FAST_S = 0.1
# How long the bench waits for the services to drain before it measures anyway (and flags the
# run): a queue that would take longer is flushed by a restart instead (matrix.Bench).
TIMEOUT_S = 15.0


def wait_idle(*base_urls: str, timeout_s: float = TIMEOUT_S, fast_s: float = FAST_S) -> bool:
    """Poll each service's ``/healthz`` until it answers within ``fast_s`` (100 ms).

    Returns False when some service was still busy after ``timeout_s`` (shared by all of them):
    ``wait_idle("http://127.0.0.1:8001", "http://127.0.0.1:8002")``.
    """
    deadline = time.monotonic() + timeout_s
    # trust_env=False: a proxy from the environment must never see loopback traffic.
    with httpx.Client(timeout=timeout_s, trust_env=False) as client:
        for base_url in base_urls:
            if not _drained(client, base_url, deadline, fast_s):
                return False
    return True


def _drained(client: httpx.Client, base_url: str, deadline: float, fast_s: float) -> bool:
    while time.monotonic() < deadline:
        sent = time.monotonic()
        try:
            client.get(f"{base_url}/healthz", timeout=max(deadline - sent, 0.01))
        except httpx.HTTPError:
            time.sleep(0.1)
            continue
        if time.monotonic() - sent < fast_s:
            return True
    return False
