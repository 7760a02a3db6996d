"""Requests in flight when a service is stopped: which of them get a complete answer.

``asynclab down`` and ``switch`` stop a service with SIGTERM to its process group
(``procs.stop_process``). A server that drains stops accepting, finishes every request it has,
including those the kernel has already accepted for it into the listen backlog, and exits.
:func:`stop_under_load` checks it: it sends requests that wait in Postgres, waits until the
service holds as many of them as it has slots (``pg_stat_activity``), stops the service the way
the lab does, and reads every answer. Used by ``tests/test_shutdown.py`` and
``scripts/bench_sigterm.py``.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

from asynclab import postgres
from asynclab.procs import ProcessRecord, stop_process
from asynclab.settings import LabSettings
from asynclab.variants import Variant

SLEEPING = (
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE state = 'active' AND query ILIKE '%pg_sleep%' AND pid <> pg_backend_pid()"
)


@dataclass(frozen=True)
class Answer:
    """What one client got: ``complete`` when the whole response (status 200) arrived."""

    status: int | None
    complete: bool
    error: str | None = None


@dataclass(frozen=True)
class StopResult:
    sent: int
    in_service: int  # requests the service was working on (the rest waited in its backlog)
    answers: list[Answer]
    stop_s: float

    @property
    def completed(self) -> int:
        return sum(a.complete for a in self.answers)

    def failures(self) -> list[str]:
        return [a.error or "?" for a in self.answers if not a.complete]


def _request(host: str, port: int, path: str) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    return sock


def read_answer(sock: socket.socket, timeout: float) -> Answer:
    """Read one response until its ``Content-Length`` is in, the server closes, or an error."""
    sock.settimeout(timeout)
    data = b""
    error = None
    try:
        while not _complete(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        error = f"{type(exc).__name__} after {len(data)} bytes"
    finally:
        sock.close()
    status = _status(data)
    if _complete(data):
        return Answer(status, status == 200, None if status == 200 else f"status {status}")
    return Answer(status, False, error or ("incomplete answer" if data else "closed, no answer"))


def _complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    length = _content_length(head)
    return bool(sep) and length is not None and len(body) >= length


def _status(data: bytes) -> int | None:
    parts = data.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value)
    return None


def sleeping_queries(settings: LabSettings) -> int:
    with postgres.connect(settings, settings.postgres_db) as conn:
        row = conn.execute(SLEEPING).fetchone()
    return int(row[0]) if row else 0


def surely_in_service(variant: Variant, settings: LabSettings, count: int) -> int:
    """How many of ``count`` requests the service holds at once, however the kernel spreads
    them over its processes: what one process can hold (1 for a sync worker)."""
    per_process = min(variant.requests_per_process(settings), variant.db_pool_per_process(settings))
    return min(count, per_process)


def stop_under_load(
    settings: LabSettings,
    record: ProcessRecord,
    port: int,
    *,
    count: int,
    wait_ms: int,
    at_least: int,
    ready_timeout: float = 30.0,
    settle_s: float = 0.0,
) -> StopResult:
    """Send ``count`` requests of ``/io/db?ms=wait_ms``, stop ``record`` once ``at_least`` of
    them sleep in Postgres, and collect every answer.

    Each request is fully sent before the stop: the kernel holds it for the service, being
    served or waiting in the listen backlog, and a draining service answers it. With
    ``settle_s`` the stop waits until the count has not grown for that long (a measurement's
    nicety: how many the service was working on; the answers do not depend on it).
    """
    socks = [_request(settings.host, port, f"/io/db?ms={wait_ms}") for _ in range(count)]
    deadline = time.monotonic() + ready_timeout
    while (in_service := sleeping_queries(settings)) < at_least:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the service never held {at_least} requests at once")
        time.sleep(0.02)
    settled = time.monotonic() + settle_s
    while time.monotonic() < settled:
        if (now := sleeping_queries(settings)) > in_service:
            in_service, settled = now, time.monotonic() + settle_s
        time.sleep(0.02)
    answers: list[Answer | None] = [None] * count

    def read(i: int) -> None:
        answers[i] = read_answer(socks[i], timeout=60.0)

    readers = [threading.Thread(target=read, args=(i,)) for i in range(count)]
    for reader in readers:
        reader.start()
    started = time.monotonic()
    stop_process(record, settings)
    stop_s = time.monotonic() - started
    for reader in readers:
        reader.join()
    return StopResult(count, in_service, [a for a in answers if a is not None], stop_s)
