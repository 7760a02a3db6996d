"""A Locust plugin for tests (``-f loadtests/x.py,tests/bench/locust_probe.py``): it notes what a
run did as it happens, and ends the run once it did what the test waits for.

A test that runs Locust for a fixed time and then counts what was sent depends on the machine:
a busy one sends less. With this plugin ``-t`` is only the bound, and the condition ends the run.

- ``LOCUST_PROBE_STOP_WHEN_ANSWERED="/json,/db"``: quit once each of these request names has
  been answered at least once (failed answer checks included: the test reads those from the
  CSV files).
- ``LOCUST_PROBE_FILE=path``: every level the runner finished spawning, one JSON line each
  (``{"user_count": 2}``), as Locust's ``spawning_complete`` event reports it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.env import Environment

_wanted = {n for n in os.environ.get("LOCUST_PROBE_STOP_WHEN_ANSWERED", "").split(",") if n}
_answered: set[str] = set()
_environment: list[Environment] = []


@events.init.add_listener
def _remember(environment: Environment, **_: Any) -> None:
    _environment.append(environment)


@events.request.add_listener
def _note_answer(name: str, response: Any = None, **_: Any) -> None:
    if not _wanted or name not in _wanted or response is None:
        return
    if getattr(response, "status_code", 0) <= 0:  # no answer at all: a connection error
        return
    _answered.add(name)
    if _answered == _wanted and _environment and _environment[0].runner is not None:
        _wanted.clear()  # quit once
        gevent.spawn(_environment[0].runner.quit)


@events.spawning_complete.add_listener
def _note_level(user_count: int, **_: Any) -> None:
    path = os.environ.get("LOCUST_PROBE_FILE")
    if path:
        with Path(path).open("a") as out:
            out.write(json.dumps({"user_count": user_count}) + "\n")
