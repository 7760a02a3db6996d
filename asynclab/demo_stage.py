"""What every act of the demo shares: its timing, the progress line under the narration, the
Prometheus check behind "marked on the Grafana dashboards", and the figures of a cell."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import click
import httpx

from asynclab.bench.verdicts import Cell
from asynclab.procs import http_ok
from asynclab.settings import LabSettings

Say = Callable[[str], None]


@dataclass(frozen=True)
class Timing:
    repetitions: int
    warmup_s: float
    duration_s: float

    def run_s(self) -> float:
        """Rough wall time of one Locust run: its start-up, warm-up and measured window."""
        return 2.5 + self.warmup_s + self.duration_s


SHORT = Timing(repetitions=1, warmup_s=1, duration_s=3)
STAGE = Timing(repetitions=3, warmup_s=2, duration_s=5)


class Progress:
    """A progress line redrawn under the narration while a run goes on (only on a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.lock = threading.Lock()
        self.text = ""
        self.started = time.monotonic()
        self.expected = 1.0

    def say(self, line: str) -> None:
        with self.lock:
            if self.enabled:
                click.echo("\r\033[K", nl=False)
            click.echo(line)

    @contextlib.contextmanager
    def running(self, text: str, expected_s: float) -> Iterator[None]:
        self.text, self.started, self.expected = text, time.monotonic(), expected_s
        stop = threading.Event()
        thread = threading.Thread(target=self._draw, args=(stop,), daemon=True)
        if self.enabled:
            thread.start()
        try:
            yield
        finally:
            stop.set()
            if self.enabled:
                thread.join()
                with self.lock:
                    click.echo("\r\033[K", nl=False)

    def _draw(self, stop: threading.Event) -> None:
        while not stop.wait(0.25):
            elapsed = time.monotonic() - self.started
            done = min(1.0, elapsed / self.expected)
            bar = "#" * int(done * 30) + "-" * (30 - int(done * 30))
            with self.lock:
                click.echo(f"\r\033[K{self.text} [{bar}] {elapsed:.0f}/{self.expected:.0f} s",
                           nl=False)  # fmt: skip


# --- Prometheus -----------------------------------------------------------------------------


def prometheus_url(settings: LabSettings) -> str | None:
    url = settings.url(settings.prometheus_port)
    return url if http_ok(f"{url}/-/ready") else None


def marked(prometheus: str, label: str) -> bool:
    """True when Prometheus saw the act's Locust runs (what the Grafana annotations draw)."""
    query = f'max_over_time(locust_running{{scenario=~"{label}: .*"}}[15m])'
    try:
        reply = httpx.get(f"{prometheus}/api/v1/query", params={"query": query}, timeout=5,
                          trust_env=False).json()  # fmt: skip
    except (httpx.HTTPError, ValueError):
        return False
    return bool(reply.get("data", {}).get("result"))


def say_marked(say: Say, prometheus: str, label: str) -> None:
    where = "marked on the Grafana dashboards" if marked(prometheus, label) else (
        "not seen by Prometheus (no annotation)")  # fmt: skip
    say(f"  {where} as '{label}: ...'")


def figures(cell: Cell) -> dict[str, Any]:
    return {
        "rps": cell.rps.median,
        "rps_low": cell.rps.low,
        "rps_high": cell.rps.high,
        "runs": cell.rps.n,
        "p50_ms": cell.p50_ms,
        "p99_ms": cell.p99_ms,
        "ceiling_rps": cell.ceiling_rps,
        "ceiling_note": cell.ceiling_note,
        "flags": cell.flags,
    }
