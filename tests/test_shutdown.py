"""Stopping a service under load: every request it holds gets its whole answer first.

``asynclab down`` and ``switch`` stop a service with SIGTERM to its process group. Each
variant in turn serves its framework's port with 10 requests in flight, some being served and,
where the variant has fewer slots, the rest in its listen backlog; all 10 must be answered.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from asynclab.inflight import stop_under_load, surely_in_service
from asynclab.lab import Lab
from asynclab.registry import SERVICES
from asynclab.variants import VARIANTS, Framework, Variant

IN_FLIGHT = 10
# Long enough to be in flight when the signal lands; short enough that flask-sync's three
# workers answer all ten (four rounds, 2 s) far within how long they drain (7.5 s), even on
# a busy machine.
WAIT_MS = 500


@pytest.fixture(scope="module")
def defaults_restored(lab: Lab) -> Iterator[None]:
    yield
    defaults: dict[Framework, str] = {name: lab.settings.variant(name) for name in SERVICES}
    for framework, name in defaults.items():
        lab.switch(framework, name)


@pytest.mark.parametrize("variant", list(VARIANTS.values()), ids=list(VARIANTS))
def test_sigterm_answers_every_request_in_flight(
    lab: Lab, variant: Variant, defaults_restored: None
) -> None:
    s = lab.settings
    record = lab.switch(variant.framework, variant.name)
    port = s.port(variant.framework)
    result = stop_under_load(
        s,
        record,
        port,
        count=IN_FLIGHT,
        wait_ms=WAIT_MS,
        at_least=surely_in_service(variant, s, IN_FLIGHT),
    )
    assert result.completed == IN_FLIGHT, result.failures()
