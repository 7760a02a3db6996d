"""ASYNCLAB_TARGET: a service the lab did not start, offered last in the web UI's Target list,
and refused before anything starts when it is not an HTTP service that answers."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import httpx
import pytest
from helpers import free_port, free_ports

from asynclab.lab import Lab
from asynclab.procs import LabError, start_process, stop_process
from asynclab.settings import LabSettings
from asynclab.webui import locust_web_process, targets_env


def offered(url: str) -> list[str]:
    """The choices of the web UI's Target drop-down, as Locust hands them to its page."""
    page = httpx.get(url, timeout=10, trust_env=False).text
    match = re.search(r'"target": (\{.*?\})', page)
    assert match is not None, "the page has no Target parameter"
    choices: list[str] = json.loads(match.group(1))["choices"]
    return choices


def test_the_web_ui_offers_the_external_target_after_the_labs_own(lab: Lab) -> None:
    url = lab.settings.service_url("fastapi")
    web_port, metrics_port = free_ports(2)
    settings = lab.settings.model_copy(update={
        "target": f"fastapi={url}/", "locust_port": web_port, "locust_metrics_port": metrics_port,
    })  # fmt: skip
    record = start_process(locust_web_process(settings), settings)
    try:
        assert record.url is not None
        choices = offered(record.url)
    finally:
        stop_process(record, settings)
    own = [t.replace("=", " ", 1) for t in targets_env(settings).split(",")]
    # The lab's FastAPI keeps its entry; the external one is labelled so, its URL normalised.
    assert choices == [*own, f"fastapi (external) {url}"]


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("fastapi=ftp://127.0.0.1:{port}", "not an HTTP URL (ftp://)"),
        ("fastapi=http://127.0.0.1:{port}", "connection refused: is the service running"),
    ],
)
def test_the_lab_does_not_start_with_a_target_it_cannot_load(
    lab_settings_factory: Callable[..., LabSettings], target: str, says: str
) -> None:
    target = target.format(port=free_port())
    lab = Lab(lab_settings_factory(target=target))
    with pytest.raises(LabError) as refused:
        lab.up()
    assert str(refused.value).startswith(f"ASYNCLAB_TARGET={target}: ")
    assert says in str(refused.value)
    assert lab.manifest() is None
    assert lab.status() == []
