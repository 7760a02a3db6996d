"""Wait until a service has drained what the previous load left in its queue.

When a generator stops, requests it had sent are still queued in the service (gunicorn's
backlog, an event loop's tasks) and are served anyway. Measuring before they drain would
charge them to the next run: with 64 connections on ``flask-sync`` and ``/io/db?ms=50`` that is
over a second of a three-second window.
"""

from __future__ import annotations

import time

import httpx

FAST_S = 0.1


def wait_idle(base_url: str, timeout_s: float = 15.0) -> float:
    """Poll ``/healthz`` until it answers within 100 ms; return the seconds waited."""
    started = time.monotonic()
    # trust_env=False: a proxy from the environment must never see loopback traffic.
    with httpx.Client(timeout=timeout_s, trust_env=False) as client:
        while time.monotonic() - started < timeout_s:
            sent = time.monotonic()
            try:
                client.get(f"{base_url}/healthz")
            except httpx.HTTPError:
                time.sleep(0.1)
                continue
            if time.monotonic() - sent < FAST_S:
                break
    return time.monotonic() - started
