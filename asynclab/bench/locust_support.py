"""What every scenario in ``loadtests/`` shares: its command-line arguments, answer checks and
the warm-up cut.

Arguments are registered here, once, because Locust loads every file of ``loadtests/`` into one
parser and argparse refuses an option defined twice. Each argument also reads ``LOCUST_<NAME>``
from the environment, so ``LOCUST_MS=200 locust -f loadtests/io_wait.py`` works like ``--ms 200``.

The warm-up cut: ``--warmup N`` resets the statistics N seconds after the test starts, so the
CSV and HTML files Locust writes at the end describe only the measured window. The bench also
needs to know when that window began and ended, to sample the generator's CPU over exactly that
span: ``--events-file PATH`` receives ``{"measure_start": t, "measure_end": t}`` in seconds of
``time.monotonic()``, the clock the bench's CPU sampler keeps too: one clock for every process
of the machine, which a step of the system clock (NTP, a VM syncing its clock) does not move,
where it would have stretched or shrunk the window that divides the request count. At the end
it also receives ``"failures"``: the window's failed requests by error text.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import WorkerRunner
from locust.stats import StatsError

# The generator's own figures for Prometheus on LOCUST_METRICS_PORT: the lab sets it (a bench's
# bench_metrics_port, the web UI's locust_metrics_port); by hand it defaults to the latter.
import asynclab.locust_exporter  # noqa: F401
from asynclab.bench.scenarios import FANOUT_CALLS, QUERIES, WAIT_MS
from asynclab.files import write_atomic

# One place for every default: the parser and ``option()`` (Locust run as a library, without a
# parser) read them here, and the wait, calls and rows are the bench scenarios' own values.
DEFAULTS: dict[str, Any] = {
    "ms": WAIT_MS,
    "work": 0,
    "calls": FANOUT_CALLS,
    "queries": QUERIES,
    "warmup": 0.0,
    "step_levels": "1,8,32,64,128,256",
    "step_hold": 30.0,
    "events_file": "",
}


def _add_arguments(parser: Any) -> None:
    # On the parser itself, not a group: only there does Locust accept include_in_web_ui.
    d = DEFAULTS
    parser.add_argument(
        "--ms",
        type=int,
        default=d["ms"],
        env_var="LOCUST_MS",
        help=f"Wait per request in ms for io, fanout and pitfall (default {d['ms']})",
    )
    parser.add_argument(
        "--work",
        type=int,
        default=d["work"],
        env_var="LOCUST_WORK",
        help="CPU work per request; 0 keeps each route's default",
    )
    parser.add_argument(
        "--calls",
        type=int,
        default=d["calls"],
        env_var="LOCUST_CALLS",
        help=f"Upstream calls per /fanout request (default {d['calls']})",
    )
    parser.add_argument(
        "--queries",
        type=int,
        default=d["queries"],
        env_var="LOCUST_QUERIES",
        help=f"Rows per /queries and /updates request (default {d['queries']})",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=d["warmup"],
        env_var="LOCUST_WARMUP",
        help="Seconds after the start whose statistics are discarded",
    )
    parser.add_argument(
        "--step-levels",
        default=d["step_levels"],
        env_var="LOCUST_STEP_LEVELS",
        help="Users at each step of the StepRamp shape (comma-separated)",
    )
    parser.add_argument(
        "--step-hold",
        type=float,
        default=d["step_hold"],
        env_var="LOCUST_STEP_HOLD",
        help=f"Seconds each StepRamp level is held (default {d['step_hold']:g})",
    )
    parser.add_argument(
        "--events-file",
        default=d["events_file"],
        env_var="LOCUST_EVENTS_FILE",
        include_in_web_ui=False,
        help="Where to write the measured window's start and end times",
    )


def option(environment: Environment, name: str) -> Any:
    """A parsed argument, or its default when Locust runs as a library without a parser."""
    return getattr(environment.parsed_options, name, DEFAULTS.get(name))


def _write_event(environment: Environment, key: str, value: Any = None) -> None:
    """Record ``key`` in the events file: now, on ``time.monotonic()``, unless ``value``."""
    path = option(environment, "events_file")
    if not path or isinstance(environment.runner, WorkerRunner):
        return
    target = Path(path)
    data = json.loads(target.read_text()) if target.exists() else {}
    data[key] = time.monotonic() if value is None else value
    write_atomic(target, json.dumps(data))


def _failures(environment: Environment) -> dict[str, int]:
    """The measured window's failures by their error text (the warm-up's were reset with the
    statistics): what tells a refused connection from a timed-out or a wrong answer."""
    found: dict[str, int] = {}
    if environment.runner is not None:
        for error in environment.runner.stats.errors.values():
            text = StatsError.parse_error(error.error)
            found[text] = found.get(text, 0) + error.occurrences
    return found


def _cut_warmup(environment: Environment, seconds: float) -> None:
    gevent.sleep(seconds)
    if environment.runner is not None:
        environment.runner.stats.reset_all()
        environment.runner.exceptions = {}
    _write_event(environment, "measure_start")


def _on_test_start(environment: Environment, **_: Any) -> None:
    warmup = float(option(environment, "warmup") or 0.0)
    if warmup > 0:
        # Every node resets its own statistics, workers included, so that nothing counted
        # during the warm-up reaches the master's totals afterwards.
        gevent.spawn(_cut_warmup, environment, warmup)
    else:
        _write_event(environment, "measure_start")


def _on_test_stop(environment: Environment, **_: Any) -> None:
    _write_event(environment, "measure_end")
    _write_event(environment, "failures", _failures(environment))


events.init_command_line_parser.add_listener(_add_arguments)  # type: ignore[no-untyped-call]
events.test_start.add_listener(_on_test_start)  # type: ignore[no-untyped-call]
events.test_stop.add_listener(_on_test_stop)  # type: ignore[no-untyped-call]


def _no_answer(response: Any) -> bool:
    """Mark ``response`` failed with its connection's error when no answer came (refused,
    reset, timed out: FastHttpUser's status 0, whose ``text`` is None). Its error names the
    kind, which the bench counts (``asynclab.bench.failures``); without this such a request
    raised in the check and reached no statistics at all."""
    if response.status_code != 0:
        return False
    response.failure(getattr(response, "error", None) or "no answer")
    return True


def expect_json(response: Any, check: Callable[[Any], bool], what: str, status: int = 200) -> None:
    """Mark ``response`` failed unless it has ``status`` and a JSON body passes ``check``.

    >>> expect_json(resp, lambda b: b == {"ms": 50}, '{"ms": 50}')
    """
    if _no_answer(response):
        return
    if response.status_code != status:
        response.failure(f"status {response.status_code}: {(response.text or '')[:200]}")
        return
    try:
        body = response.json()
    except ValueError:
        response.failure(f"not JSON: {(response.text or '')[:200]}")
        return
    if check(body):
        response.success()
    else:
        response.failure(f"expected {what}, got {str(body)[:200]}")


def expect_text(response: Any, needles: list[str], what: str) -> None:
    """Mark ``response`` failed unless it is a 200 whose body contains every needle."""
    if _no_answer(response):
        return
    if response.status_code != 200:
        response.failure(f"status {response.status_code}: {(response.text or '')[:200]}")
    elif all(n in (response.text or "") for n in needles):
        response.success()
    else:
        response.failure(f"expected {what}, got {(response.text or '')[:200]}")
