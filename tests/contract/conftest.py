"""Fixtures of the contract suite: every test runs once per service, against the real lab.

``lab`` (a running ``asynclab.lab.Lab``) comes from ``tests/conftest.py``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import hypothesis.configuration
import psycopg
import pytest

from asynclab.lab import Lab
from contract import checks, figures
from contract.cases import FRAMEWORKS
from contract.checks import Conn, service_url

# Hypothesis (under schemathesis, test_fuzz.py) keeps caches in ./.hypothesis: not in the repo.
HYPOTHESIS_HOME = Path(tempfile.gettempdir()) / "asynclab-hypothesis"
hypothesis.configuration.set_hypothesis_home_dir(HYPOTHESIS_HOME)


@pytest.fixture(params=FRAMEWORKS, ids=FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def service(lab: Lab, framework: str) -> str:
    """Base URL of the service under test, e.g. ``http://127.0.0.1:40123``."""
    return service_url(lab, framework)


@pytest.fixture
def client(service: str) -> Iterator[httpx.Client]:
    with checks.client(service) as c:
        yield c


@pytest.fixture(scope="session")
def clients(lab: Lab) -> Iterator[dict[str, httpx.Client]]:
    """One client per service, for tests that compare the two side by side."""
    made = {name: checks.client(service_url(lab, name)) for name in FRAMEWORKS}
    yield made
    for c in made.values():
        c.close()


@pytest.fixture(scope="session")
def db(lab: Lab) -> Iterator[Conn]:
    """A direct connection to the lab's Postgres, to check what the services wrote."""
    with psycopg.connect(lab.settings.database_url(), autocommit=True) as conn:
        yield conn


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = figures.summary()
    if lines:
        terminalreporter.write_line("fuzzing (tests/contract/test_fuzz.py):")
        for line in lines:
            terminalreporter.write_line(line)
