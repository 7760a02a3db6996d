"""Draining: every service must answer its health check quickly before a run starts."""

from __future__ import annotations

from helpers import free_port, listening

from asynclab.bench.idle import wait_idle
from asynclab.lab import Lab
from asynclab.registry import SERVICES


def test_idle_services_are_drained(lab: Lab) -> None:
    # wait_idle polls until an answer comes within 100 ms: on a busy machine some take longer,
    # so the bound is generous; an idle service passes at its first fast answer.
    assert wait_idle(*(lab.settings.service_url(name) for name in SERVICES), timeout_s=60)


def test_a_service_that_never_answers_is_not_drained(lab: Lab) -> None:
    port = free_port()
    with listening(port):  # accepts connections, never answers: a service stuck on a backlog
        url = lab.settings.service_url("fastapi")
        assert not wait_idle(url, f"http://127.0.0.1:{port}", timeout_s=1)
