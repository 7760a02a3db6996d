"""Real Chromium (the Debian package) driven by Playwright, and the lab's Locust web UI.

Never ``playwright install``: the browser is ``/usr/bin/chromium`` from apt (scripts/install.sh).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers import poll_until
from playwright.sync_api import Browser, Page, sync_playwright

from asynclab.lab import Lab
from asynclab.procs import start_process, stop_process
from asynclab.webui import locust_web_process

CHROMIUM = "/usr/bin/chromium"
# Quiet, deterministic Chromium: no sandbox (we run as root in a container), no GPU, and none of
# the background traffic a first run would start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-gpu",
    "--no-first-run",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: install the Debian package chromium (make install)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh tab at projector size (1280x800)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def artifacts() -> Path:
    """``test-artifacts/`` (gitignored): screenshots a person can look at after the run."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def locust_ui(lab: Lab) -> Iterator[str]:
    """The Locust web UI aimed at the running lab; its URL. Reuses the lab's own when it has one."""
    manifest = lab.manifest() or {}
    if "locust" in manifest.get("processes", {}):
        url = lab.settings.url(lab.settings.locust_port)
        try:
            yield url
        finally:
            # The lab's own UI outlives the test: a test that fails before its Stop click would
            # leave its users loading the services for the rest of the session (they once
            # showed up as two extra pg_sleep in test_variants).
            stop_swarm(url)
        return
    record = start_process(locust_web_process(lab.settings), lab.settings)
    try:
        assert record.url is not None
        yield record.url
    finally:
        stop_process(record, lab.settings)


def stop_swarm(url: str) -> None:
    """Stop a Locust web UI's run, if any, and wait until its users are gone."""
    with httpx.Client(base_url=url, timeout=10, trust_env=False) as client:
        client.post("/stop").raise_for_status()
        poll_until(
            lambda: client.get("/stats/requests").json()["state"] in ("ready", "stopped"),
            f"the Locust run at {url} to stop",
        )
