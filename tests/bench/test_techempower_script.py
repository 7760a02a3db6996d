"""scripts/bench_techempower.py: what it refuses, and how it turns runs into ratios.

A run needs TechEmpower's own FastAPI implementation, which is not in this repository (the
script runs it beside ours, never copies it) and not reachable from CI: the figures come from
``make bench-techempower`` and are quoted in the README. Here: the refusals a user meets first,
and the summary's rules (whole pairs only, the median of the pairs' ratios).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from asynclab.settings import ROOT

SCRIPT = ROOT / "scripts/bench_techempower.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_techempower", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def run_script(*args: str, techempower: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TECHEMPOWER"}
    if techempower is not None:
        env["TECHEMPOWER"] = techempower
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_without_a_checkout_it_says_where_to_get_one() -> None:
    result = run_script()
    assert result.returncode == 2
    assert "--techempower DIR or TECHEMPOWER=DIR" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_folder_without_the_app_is_named(tmp_path: Path) -> None:
    result = run_script(techempower=str(tmp_path))
    assert result.returncode == 1
    assert f"no TechEmpower FastAPI app under {tmp_path}" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_says_how_to_get_the_app_and_what_is_measured() -> None:
    result = run_script("--help")
    assert result.returncode == 0
    assert "sparse-checkout set frameworks/Python/fastapi" in result.stdout
    assert "--design" in result.stdout


def test_the_repository_or_its_fastapi_folder_is_accepted(tmp_path: Path) -> None:
    script = load_script()
    folder = tmp_path / "frameworks/Python/fastapi"
    (folder / "templates").mkdir(parents=True)
    (folder / "app.py").write_text("")
    assert script.app_dir(tmp_path) == folder
    assert script.app_dir(folder) == folder


def test_the_summary_keeps_whole_pairs_and_takes_the_median_ratio() -> None:
    script = load_script()
    run = script.Run
    ours = [run(900.0, 10.0, 0, 0.2), run(1000.0, 10.0, 0, 0.2), run(800.0, 10.0, 0, 0.2)]
    theirs = [run(1000.0, 9.0, 0, 0.2), run(1000.0, 9.0, 0, 0.95)]  # a Ctrl-C left one side
    summary = script.summarise({"/json": {"ours": ours, "techempower": theirs}})
    cell = summary["/json"]
    assert cell["pairs"] == 2
    assert cell["ratio"] == 0.95
    assert (cell["ratio_min"], cell["ratio_max"]) == (0.9, 1.0)
    assert cell["met"] is True
    assert cell["generator_flag"] is True  # one run's generator above 90%: said, not hidden
