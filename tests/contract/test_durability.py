"""Writes across a stop and a crash of Postgres: an acknowledged ``POST /items`` is never lost.

Writers POST unique items to both services (psycopg and asyncpg) and keep every 201 they get.
Postgres is then stopped cleanly (``kill -INT``: a fast shutdown) or crashed (``kill -QUIT``:
an immediate shutdown, no checkpoint, recovery from the WAL at the next start) while they
write, and started again with the lab's own helper. Afterwards ``GET /items/{id}`` must return
every acknowledged item exactly as it was acknowledged: a lost write answers 404, and an id
handed out again after a crash answers another item.

A crash loses nothing only with ``synchronous_commit=on`` (the lab's default); with ``off``
it loses the writes of the last fraction of a second, which is the documented price of that
setting. A clean stop loses nothing with either.

A lab of its own: the session lab's Postgres keeps running for every other test.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from helpers import LabSettingsFactory, poll_until

from asynclab import postgres
from asynclab.lab import Lab
from asynclab.registry import SERVICES as FRAMEWORKS
from asynclab.settings import LabSettings
from contract.checks import CLIENT_LIMITS, CLIENT_TIMEOUT_S, check_error, client, service_url
from contract.test_database_down import DB_DOWN

WRITERS = 3  # per service
ACKED_BEFORE = 30  # acknowledged writes per service before Postgres goes
WAIT_S = 120.0  # generous: a hang, not a slow answer


class Writers:
    """Threads that POST unique items to one service and keep what each 201 acknowledged.

    Any answer but a 201 or the contract's 503 (the database is away) is a problem.
    """

    def __init__(self, url: str, framework: str) -> None:
        self.url = url
        self.framework = framework
        self.stop = threading.Event()
        self.acked: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self.threads = [
            threading.Thread(target=self._write, args=(i,), daemon=True) for i in range(WRITERS)
        ]

    def _write(self, writer: int) -> None:
        deadline = time.monotonic() + 600  # bounded even if the test never stops it
        with httpx.Client(base_url=self.url, timeout=CLIENT_TIMEOUT_S, limits=CLIENT_LIMITS) as c:
            for n in itertools.count():
                if self.stop.is_set() or time.monotonic() > deadline:
                    return
                name = f"{self.framework}-{os.getpid()}-{writer}-{n}-{time.time_ns()}"
                item = {"name": name, "price": n + 0.25, "quantity": n % 10_000,
                        "tags": [f"w{writer}"]}  # fmt: skip
                try:
                    response = c.post("/items", json=item)
                    if response.status_code == 201:
                        body = response.json()
                        assert body == {"id": body["id"], **item}, body
                        self.acked.append(body)
                    else:
                        check_error(response, self.framework, DB_DOWN)
                        self.stop.wait(0.01)
                except (httpx.HTTPError, AssertionError) as exc:
                    self.problems.append(f"{self.framework}: {exc!r}")

    def __enter__(self) -> Writers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=CLIENT_TIMEOUT_S + 10)


@contextlib.contextmanager
def writing(lab: Lab) -> Iterator[list[Writers]]:
    writers = [Writers(service_url(lab, f), f) for f in FRAMEWORKS]
    with contextlib.ExitStack() as running:
        for w in writers:
            running.enter_context(w)
        yield writers
    problems = [p for w in writers for p in w.problems]
    assert not problems, f"{len(problems)} answers broke the contract: {problems[:5]}"


def acked_at_least(writers: list[Writers], n: int) -> bool:
    return all(len(w.acked) >= n for w in writers)


def wait_gone(settings: LabSettings) -> None:
    poll_until(lambda: postgres.postmaster_pid(settings) is None, "the postmaster to exit", WAIT_S)


def restart_with(lab: Lab, synchronous_commit: str) -> LabSettings:
    """The lab's Postgres, stopped and started again with ``synchronous_commit``."""
    postgres.stop(lab.settings, None)
    settings = lab.settings.model_copy(update={"postgres_synchronous_commit": synchronous_commit})
    postgres.start(settings)
    with postgres.connect(settings, settings.postgres_db) as conn:
        assert conn.execute("SHOW synchronous_commit").fetchone() == (synchronous_commit,)
    return settings


def check_every_acked_item(lab: Lab, writers: list[Writers]) -> None:
    """Each acknowledged item, fetched from the service that acknowledged it, is as it was."""
    acked = [(w.framework, body) for w in writers for body in w.acked]
    ids = [body["id"] for _, body in acked]
    assert len(set(ids)) == len(ids), "an id was acknowledged for two items"

    def fetch(c: httpx.Client, item_id: int) -> httpx.Response:
        answers: list[httpx.Response] = []

        def answered() -> bool:  # a process may still be finding the database back: 503
            answers.append(c.get(f"/items/{item_id}"))
            return answers[-1].status_code != 503

        poll_until(answered, f"GET /items/{item_id} to answer", WAIT_S)
        return answers[-1]

    clients = {f: client(service_url(lab, f)) for f in FRAMEWORKS}
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            got = list(pool.map(lambda fb: fetch(clients[fb[0]], fb[1]["id"]), acked))
    finally:
        for c in clients.values():
            c.close()
    wrong = [(body, r.status_code, r.text) for (_, body), r in zip(acked, got, strict=True)
             if r.status_code != 200 or r.json() != body]  # fmt: skip
    assert not wrong, (
        f"{len(wrong)} of {len(acked)} acknowledged items came back wrong: {wrong[:3]}"
    )


@pytest.fixture(scope="module")
def durable_lab(lab_settings_factory: LabSettingsFactory) -> Iterator[Lab]:
    lab = Lab(lab_settings_factory())
    assert lab.settings.postgres_synchronous_commit == "on", "the lab's default is durable"
    try:
        lab.up()
        yield lab
    finally:
        lab.down()


@pytest.mark.parametrize("synchronous_commit", ["on", "off"])
def test_a_clean_stop_loses_no_acknowledged_item(durable_lab: Lab, synchronous_commit: str) -> None:
    settings = restart_with(durable_lab, synchronous_commit)
    try:
        with writing(durable_lab) as writers:
            poll_until(lambda: acked_at_least(writers, ACKED_BEFORE), "writes", WAIT_S)
            pid = postgres.postmaster_pid(settings)
            assert pid is not None
            os.kill(pid, signal.SIGINT)  # a fast shutdown, as pg_ctl stop -m fast sends it
            wait_gone(settings)
        postgres.start(settings)
        check_every_acked_item(durable_lab, writers)
    finally:
        if postgres.postmaster_pid(settings) is None:
            postgres.start(durable_lab.settings)


def test_a_crash_loses_no_acknowledged_write_and_reuses_no_id(durable_lab: Lab) -> None:
    settings = restart_with(durable_lab, "on")
    try:
        with writing(durable_lab) as before:
            poll_until(lambda: acked_at_least(before, ACKED_BEFORE), "writes", WAIT_S)
            pid = postgres.postmaster_pid(settings)
            assert pid is not None
            os.kill(pid, signal.SIGQUIT)  # an immediate shutdown: a crash, recovered at start
            wait_gone(settings)
        postgres.start(settings)
        # New items after the crash: none may get the id of an acknowledged one.
        with writing(durable_lab) as after:
            poll_until(lambda: acked_at_least(after, ACKED_BEFORE), "writes after", WAIT_S)
        for old, new in zip(before, after, strict=True):
            new.acked += old.acked
        check_every_acked_item(durable_lab, after)
    finally:
        if postgres.postmaster_pid(settings) is None:
            postgres.start(durable_lab.settings)
