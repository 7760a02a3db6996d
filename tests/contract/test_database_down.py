"""With Postgres (and the upstream) gone, the services answer at once with the contract's error.

A lab of its own: the session lab's Postgres keeps running for every other test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psutil
import pytest

from asynclab import postgres
from asynclab.lab import Lab
from asynclab.procs import ProcessRecord, stop_process
from contract.cases import FRAMEWORKS, VALID_ITEM, Req
from contract.checks import CLIENT_LIMITS, CLIENT_TIMEOUT_S, check_error, check_json, service_url

DB_DOWN = Req("db-down", "GET", "/", status=503, error="database_unavailable",
              field="database", where="dependency")  # fmt: skip
UPSTREAM_DOWN = Req("upstream-down", "GET", "/", status=502, error="upstream_unavailable",
                    field="upstream", where="dependency")  # fmt: skip


@pytest.fixture(scope="module")
def broken_lab(lab_settings_factory: Callable[..., Any]) -> Iterator[Lab]:
    """A running lab whose Postgres and upstream were stopped after the services came up."""
    broken = Lab(lab_settings_factory(workers=1, db_pool_size=2, connect_timeout_s=0.5))
    try:
        broken.up()
        postmaster = postgres.postmaster_pid(broken.settings)
        postgres.stop(broken.settings, None)
        # Stopped by pg_ctl, yet our child: collected, not left a zombie.
        assert postmaster is not None
        assert not psutil.pid_exists(postmaster)
        manifest = broken.manifest()
        assert manifest is not None
        stop_process(ProcessRecord.from_json(manifest["processes"]["upstream"]), broken.settings)
        yield broken
    finally:
        broken.down()


@pytest.fixture(params=FRAMEWORKS, ids=FRAMEWORKS)
def broken(request: pytest.FixtureRequest, broken_lab: Lab) -> Iterator[tuple[str, httpx.Client]]:
    framework: str = request.param
    # The client timeout is the "not a hang" bound: far above the services' connect timeout.
    with httpx.Client(
        base_url=service_url(broken_lab, framework), timeout=CLIENT_TIMEOUT_S, limits=CLIENT_LIMITS
    ) as c:
        yield framework, c


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/readyz"), ("GET", "/db"), ("GET", "/queries?queries=3"), ("GET", "/updates"),
     ("GET", "/fortunes"), ("GET", "/io/db?ms=10"), ("POST", "/items"), ("GET", "/items/1")],
)  # fmt: skip
def test_database_unavailable(broken: tuple[str, httpx.Client], method: str, path: str) -> None:
    framework, c = broken
    for _ in range(2):  # and again: a failed attempt must not leave the pool stuck
        response = c.request(method, path, json=VALID_ITEM if method == "POST" else None)
        check_error(response, framework, DB_DOWN)


@pytest.mark.parametrize("path", ["/io/upstream?ms=10", "/fanout?calls=2&ms=10"])
def test_upstream_unavailable(broken: tuple[str, httpx.Client], path: str) -> None:
    framework, c = broken
    check_error(c.get(path), framework, UPSTREAM_DOWN)


@pytest.mark.parametrize(
    ("path", "body"),
    [("/healthz", {"status": "ok"}), ("/json", {"message": "Hello, World!"}),
     ("/cpu/python?work=10", None)],
)  # fmt: skip
def test_what_needs_no_dependency_still_works(
    broken: tuple[str, httpx.Client], path: str, body: Any
) -> None:
    framework, c = broken
    answer = check_json(c.get(path), framework)
    assert body is None or answer == body
