"""The HTML report of a recorded result set, as a browser shows it: every chart, no errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page

from asynclab.bench.report import build_report

pytestmark = pytest.mark.browser

RECORDED = Path(__file__).resolve().parents[1] / "bench" / "data"


def test_report_draws_every_chart_without_console_errors(
    page: Page, tmp_path: Path, artifacts: Path
) -> None:
    set_dir = tmp_path / "set"
    shutil.copytree(RECORDED, set_dir)
    outputs = build_report(set_dir)
    pngs = [p for p in outputs.charts if p.suffix == ".png"]
    assert pngs, "the recorded set should give charts"

    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(outputs.html.as_uri(), wait_until="load")

    images = page.eval_on_selector_all(
        "img", "imgs => imgs.map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth}))"
    )
    assert len(images) == len(pngs)
    for image in images:
        assert image["complete"], image
        assert image["width"] > 0, f"chart did not render: {image['alt']}"
    page.screenshot(path=str(artifacts / "report.png"), full_page=True)
    assert errors == []
