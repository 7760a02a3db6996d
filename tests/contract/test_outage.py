"""Postgres stopped and started again under load, for every variant: what the clients get.

While the database is down every database request is answered with the contract's 503 and
/readyz says 503; once it is back, /readyz says 200 and every request succeeds again. Nothing
else may come back: no 500, no reset connection, no request left hanging.

The lab's connect timeout (the psycopg pool's wait for a connection, asyncpg's connect and
acquire) is set far above the clients' timeout here: a request that waited it out (queued
requests would, one after the other) fails the test as a client timeout.

A lab of its own: the session lab's Postgres keeps running for every other test.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Iterator
from itertools import cycle

import httpx
import pytest
from helpers import LabSettingsFactory, poll_until

from asynclab import postgres
from asynclab.lab import Lab
from asynclab.registry import SERVICES as FRAMEWORKS
from asynclab.variants import VARIANTS, Framework
from contract.checks import (
    CLIENT_LIMITS,
    CLIENT_TIMEOUT_S,
    check_error,
    check_json,
    client,
    service_url,
)
from contract.test_database_down import DB_DOWN

LOAD_PATHS = ("/db", "/io/db?ms=10")
CLIENTS = 6  # per service: more than flask-sync's 3 workers, so that requests queue
CONNECT_TIMEOUT_S = 4 * CLIENT_TIMEOUT_S
# Generous bounds for a busy machine: each is a hang, not a slow answer.
SEEN_WITHIN_S = 60.0
RECOVERED_RUN = 20  # consecutive 200s of each client's service that count as recovered


def rounds() -> list[dict[Framework, str]]:
    """The variants in rounds of one Flask and one FastAPI variant, loaded at once; a framework
    with more variants than the other has rounds of its own."""
    by = [[v.name for v in VARIANTS.values() if v.framework == f] for f in FRAMEWORKS]
    return [
        {f: v for f, v in zip(FRAMEWORKS, pair, strict=True) if v is not None}
        for pair in itertools.zip_longest(*by)
    ]


class Load:
    """Closed-loop clients of one service, each answer checked as it comes: a 200, or the
    contract's 503. Anything else (another status, a reset, a client timeout) is a problem."""

    def __init__(self, url: str, framework: str) -> None:
        self.url = url
        self.framework = framework
        self.stop = threading.Event()
        self.answers: list[tuple[float, int]] = []  # (when answered, status)
        self.problems: list[str] = []
        self.threads = [
            threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(CLIENTS)
        ]

    def _client(self, i: int) -> None:
        deadline = time.monotonic() + 600  # bounded even if the test never stops it
        paths = cycle(LOAD_PATHS[i % 2 :] + LOAD_PATHS[: i % 2])
        with httpx.Client(base_url=self.url, timeout=CLIENT_TIMEOUT_S, limits=CLIENT_LIMITS) as c:
            while not self.stop.is_set() and time.monotonic() < deadline:
                path = next(paths)
                try:
                    response = c.get(path)
                    if response.status_code != 200:
                        check_error(response, self.framework, DB_DOWN)
                except (httpx.HTTPError, AssertionError) as exc:
                    self.problems.append(f"{self.framework} {path}: {exc!r}")
                else:
                    self.answers.append((time.monotonic(), response.status_code))
                self.stop.wait(0.01)  # leave the busy machine some CPU

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=CLIENT_TIMEOUT_S + 10)

    def saw(self, status: int, after: float) -> bool:
        return any(s == status and t > after for t, s in list(self.answers))

    def recovered(self, after: float) -> bool:
        """The last answers, all given after ``after``, are all 200."""
        last = list(self.answers)[-RECOVERED_RUN:]
        return len(last) == RECOVERED_RUN and all(s == 200 and t > after for t, s in last)


@pytest.fixture(scope="module")
def outage_lab(lab_settings_factory: LabSettingsFactory) -> Iterator[Lab]:
    lab = Lab(lab_settings_factory(connect_timeout_s=CONNECT_TIMEOUT_S))
    try:
        lab.up()
        yield lab
    finally:
        lab.down()


def wait_readyz(client: httpx.Client, framework: str, status: int) -> None:
    """Poll /readyz until it says ``status``, in the contract's body."""

    def says() -> bool:
        response = client.get("/readyz")
        if response.status_code != status:
            return False
        if status == 200:
            assert check_json(response, framework) == {"status": "ready"}
        else:
            check_error(response, framework, DB_DOWN)
        return True

    poll_until(says, f"{framework} /readyz to say {status}", SEEN_WITHIN_S)


@pytest.fixture(scope="module", params=rounds(), ids=lambda r: "+".join(r.values()))
def served(request: pytest.FixtureRequest, outage_lab: Lab) -> dict[Framework, str]:
    """One round of variants, served for all the tests of the module that use it."""
    chosen: dict[Framework, str] = request.param
    for framework, variant in chosen.items():
        outage_lab.switch(framework, variant)
    return chosen


def test_an_outage_under_load(outage_lab: Lab, served: dict[Framework, str]) -> None:
    s = outage_lab.settings
    loads = [Load(service_url(outage_lab, f), f) for f in served]
    probes = {f: client(service_url(outage_lab, f)) for f in served}
    try:
        with contextlib.ExitStack() as running:
            for load in loads:
                running.enter_context(load)
            poll_until(lambda: all(load.saw(200, 0) for load in loads), "load to be served")
            stopped = time.monotonic()
            postgres.stop(s, None)
            for f, c in probes.items():
                wait_readyz(c, f, 503)
            poll_until(lambda: all(load.saw(503, stopped) for load in loads),
                       "503s under load", SEEN_WITHIN_S)  # fmt: skip
            postgres.start(s)
            started = time.monotonic()
            for f, c in probes.items():
                wait_readyz(c, f, 200)
            poll_until(lambda: all(load.recovered(started) for load in loads),
                       f"{RECOVERED_RUN} 200s in a row", SEEN_WITHIN_S)  # fmt: skip
    finally:
        for c in probes.values():
            c.close()
        if postgres.postmaster_pid(s) is None:  # a failed test leaves the next one a database
            postgres.start(s)
    problems = [p for load in loads for p in load.problems]
    assert not problems, f"{len(problems)} answers broke the contract: {problems[:5]}"


def test_a_restart_no_request_saw_costs_no_request(
    outage_lab: Lab, served: dict[Framework, str]
) -> None:
    """Every pooled connection was closed by the server while idle: none is handed out.

    (psycopg sees a closed connection only when it next uses it; asyncpg sees it at once.)
    """
    s = outage_lab.settings
    clients = [client(service_url(outage_lab, f)) for f in served]
    try:
        for c in clients:  # every process's pool has its connections (flask-sync: 3 workers)
            poll_until(lambda: c.get("/readyz").status_code == 200, "ready", SEEN_WITHIN_S)  # noqa: B023
        postgres.stop(s, None)
        postgres.start(s)
        for c in clients:
            statuses = [c.get(path).status_code for path in LOAD_PATHS * CLIENTS * 2]
            assert statuses == [200] * len(statuses), f"{c.base_url}: {statuses}"
    finally:
        for c in clients:
            c.close()
        if postgres.postmaster_pid(s) is None:
            postgres.start(s)
