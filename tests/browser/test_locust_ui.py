"""A speaker's run in the Locust web UI: pick a scenario and a target, start, watch, stop."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from helpers import poll_until
from playwright.sync_api import Page
from prometheus_client.parser import text_string_to_metric_families

from asynclab.lab import Lab
from asynclab.registry import SERVICES
from asynclab.webui import targets_env

pytestmark = pytest.mark.browser

SCENARIO = "IoDb"
ROUTE = "/io/db"


def served(url: str, route: str) -> float:
    """Requests a service has answered on ``route``, from its own /metrics."""
    text = httpx.get(f"{url}/metrics", timeout=5, trust_env=False).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "http_requests"
        for sample in family.samples
        if sample.name == "http_requests_total" and sample.labels.get("route") == route
    )


# Read in one evaluation: the UI re-renders the table as stats arrive, and reading the headers
# and the row in separate steps once found a table whose headers were not drawn yet.
AGGREGATED_CELL = """header => {
  for (const table of document.querySelectorAll('table')) {
    const headers = [...table.querySelectorAll('thead th')]
      .map(h => h.innerText.split(/\\s+/).join(' ').trim());
    const row = [...table.querySelectorAll('tbody tr')]
      .find(r => [...r.cells].some(c => c.innerText.trim() === 'Aggregated'));
    const i = headers.indexOf(header);
    if (row && i >= 0 && i < row.cells.length) return row.cells[i].innerText;
  }
  return null;
}"""


def column(page: Page, header: str) -> float | None:
    """A figure of the Aggregated row of the statistics table, e.g. ``"# Requests"``; None
    until the table shows it."""
    text = page.evaluate(AGGREGATED_CELL, header)
    return None if text is None else float(text.replace(",", ""))


def test_speaker_runs_one_scenario_against_flask(
    lab: Lab, locust_ui: str, page: Page, artifacts: Path
) -> None:
    flask_url, fastapi_url = lab.settings.service_url("flask"), lab.settings.service_url("fastapi")
    before = served(flask_url, ROUTE), served(fastapi_url, ROUTE)
    page.goto(locust_ui)

    # The start form offers every scenario and shape, aimed at FastAPI unless told otherwise.
    picker = page.locator("table", has=page.locator("thead input[type=checkbox]"))
    for name in ("CpuPython", "IoDb", "PitfallBlocking", "Fanout", "Mixed", "Json"):
        assert picker.get_by_role("cell", name=name, exact=True).count() == 1, name
    assert "StepRamp" in page.locator("select#shapeClass").inner_text()
    assert page.locator("input[name=host]").input_value() == fastapi_url

    # One scenario (untick all, tick one), a few users, the Flask service as the target.
    picker.locator("thead input[type=checkbox]").uncheck()
    picker.locator("tr", has=page.get_by_role("cell", name=SCENARIO, exact=True)).get_by_role(
        "checkbox"
    ).check()
    page.locator("input[name=userCount]").fill("2")
    page.locator("input[name=spawnRate]").fill("2")
    page.get_by_text("Custom parameters").click()
    # Every service of the registry is a target, Node and Go included, FastAPI first.
    offered = page.locator("select#target option").all_inner_texts()
    assert offered == [t.replace("=", " ", 1) for t in targets_env(lab.settings).split(",")]
    assert {o.split()[0] for o in offered} == set(SERVICES)
    page.locator("select#target").select_option(label=f"flask {flask_url}")
    page.get_by_role("button", name="Start").click()

    poll_until(lambda: (column(page, "# Requests") or 0) > 0, "the request count to rise above 0")
    poll_until(lambda: (column(page, "Current RPS") or 0) > 0, "the current RPS to show")
    page.get_by_text(flask_url).first.wait_for()  # the header names the URL under load
    page.screenshot(path=str(artifacts / "locust-ui-running.png"))
    page.get_by_role("button", name="Stop").click()
    page.get_by_text("STOPPED", exact=False).first.wait_for()

    # Each worker publishes its requests within 0.5 s (services/common/tally.py): wait for them.
    poll_until(
        lambda: served(flask_url, ROUTE) > before[0],
        "Flask, the chosen target, to count requests",
    )
    assert served(fastapi_url, ROUTE) == before[1], "FastAPI got requests although Flask was chosen"
