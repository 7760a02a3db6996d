"""Schemathesis fuzzes every route of both services from the published OpenAPI document.

Every generated request goes to every service, each answer must pass all of schemathesis'
checks, and the answers must be the same (status, media type and body) except where
tests/contract/differences.py names the difference (and docs/contract.md says why).

Deterministic and bounded: a fixed seed, derandomized generation, a fixed number of examples
per operation, no shrinking and no example database. Costly parameters are capped before a
request is sent (``cap_costs``), so that no answer depends on how busy the machine is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis.internal.conjecture import providers

from asynclab.lab import Lab
from contract.cases import FRAMEWORKS
from contract.checks import CLIENT_TIMEOUT_S, service_url
from contract.differences import comparable, named_difference
from contract.figures import FUZZ
from services.common import openapi, work
from services.common.models import MAX_WAIT_MS

SEED = 20_241_201
MAX_EXAMPLES = 50
# The largest wait, work or row count a generated request may ask for: small enough that a
# whole run takes a minute or two, and that no request nears a timeout on a busy machine.
CAPS = {"ms": 20, "calls": 5, "work": 2000}
MAX_QUERIES = 5
# Above these the request is invalid (422) and costs nothing: left as generated.
LIMITS = {"ms": MAX_WAIT_MS, "calls": 50, "work": 10_000_000}

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        # The one health check that measures time (how long generating takes): on a busy
        # machine it would fail the run for no fault of the services.
        "suppress-health-check": ["too_slow"],
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
            "no-shrink": True,
        },
        "checks": {"enabled": True},
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": False},  # no links between operations to follow
        },
    }
)
schema = schemathesis.openapi.from_dict(openapi.document(), config=CONFIG)


def _as_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def cap_costs(case: schemathesis.Case) -> None:
    """Lower a valid costly parameter to a small valid value (as an int or a string, as it
    came); leave anything invalid alone, so negative cases stay negative."""
    query = case.query
    if not isinstance(query, dict):
        return
    for name, cap in CAPS.items():
        value = query.get(name)
        number = _as_int(value)
        if number is not None and cap < number <= LIMITS[name]:
            query[name] = cap if isinstance(value, int) else str(cap)
    raw = query.get("queries")
    if isinstance(raw, str) and work.clamp_queries(raw) > MAX_QUERIES:
        query["queries"] = str(MAX_QUERIES)


@pytest.fixture(scope="module", autouse=True)
def no_local_constants() -> Iterator[None]:
    """Draw only from Hypothesis' own constants, never from this process's modules.

    Hypothesis mixes literals found in every local module loaded in the process into what it
    generates (hypothesis.internal.conjecture.providers). Which modules are loaded depends on
    which other tests ran before, so the cases would too: the same seed gave other cases in a
    full run than in this file alone. An internal hook (no setting exists); uv.lock pins it.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(providers, "_get_local_constants", providers.Constants)
        providers.CONSTANTS_CACHE.cache.clear()
        yield
    providers.CONSTANTS_CACHE.cache.clear()


@pytest.fixture(scope="module")
def sessions(lab: Lab) -> Iterator[dict[str, tuple[str, requests.Session]]]:
    made = {name: (service_url(lab, name), requests.Session()) for name in FRAMEWORKS}
    yield made
    for _, session in made.values():
        session.close()


def answer(
    case: schemathesis.Case, name: str, base_url: str, session: requests.Session
) -> tuple[int, str, Any]:
    """The service's answer, after all of schemathesis' checks passed on it."""
    response = case.call(base_url=base_url, session=session, timeout=CLIENT_TIMEOUT_S)
    status = response.status_code
    FUZZ[f"{name}: requests"] += 1
    FUZZ[f"{name}: {status // 100}xx"] += 1
    case.validate_response(response)
    FUZZ[f"{name}: passed every check"] += 1
    return comparable(case.path, case.method, status, response.headers, response.content)


@schema.parametrize()
def test_fuzz(case: schemathesis.Case, sessions: dict[str, tuple[str, requests.Session]]) -> None:
    cap_costs(case)
    FUZZ["cases"] += 1
    if case.meta is not None:
        FUZZ[f"cases {case.meta.phase.name.value} {case.meta.generation.mode.value}"] += 1
    answers = {name: answer(case, name, url, session) for name, (url, session) in sessions.items()}
    (reference, expected), *others = answers.items()
    for name, got in others:
        assert got == expected, (
            f"{name} and {reference} differ on {case.as_curl_command()}: {got} != {expected}"
        )
    FUZZ["cases answered alike"] += 1
    named = named_difference(case.path, case.method, expected[0])
    if named is not None:
        FUZZ[f"alike but for named difference {named}"] += 1


def test_the_published_document_is_the_one_fuzzed(
    sessions: dict[str, tuple[str, requests.Session]],
) -> None:
    for url, session in sessions.values():
        response = session.get(url + openapi.OPENAPI_PATH, timeout=CLIENT_TIMEOUT_S)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.content == openapi.DOCUMENT_BYTES
