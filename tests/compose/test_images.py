"""Every module of each image imports from a tree holding only what its Dockerfile copies, in a
virtual environment holding only what the image installs (``uv sync --frozen --no-dev``).

The Locust image once lacked ``services/``, which ``loadtests/techempower.py`` imports: its
master crash-looped on the first ``make lab``. The engine test runs the images for real; this
finds the same kind of gap in a second, without an engine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.compose import model

# The images of the Python code (the reference services' hold none).
DOCKERFILES = [
    path
    for path in sorted((model.ROOT / "docker").glob("*.Dockerfile"))
    if "uv sync --frozen" in path.read_text()
]

# Imports every module named on stdin, or loads a file that is no module (such as
# services/gunicorn.conf.py). -I: nothing from the environment or the working directory.
CHILD = """
import importlib, importlib.util, json, sys
tree = sys.argv[1]
sys.path.insert(0, tree)
for entry in json.load(sys.stdin):
    if entry.endswith(".py"):
        spec = importlib.util.spec_from_file_location("loaded_by_path", f"{tree}/{entry}")
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
    else:
        importlib.import_module(entry)
"""


@pytest.fixture(scope="module")
def runtime_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment as the images' builder stage makes it, from uv's cache."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is missing: scripts/install.sh installs it")
    venv = tmp_path_factory.mktemp("runtime") / "venv"
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON_DOWNLOADS": "never"}
    done = subprocess.run(
        [uv, "sync", "--frozen", "--no-dev", "--no-install-project", "--offline", "--quiet",
         "--python", sys.executable],
        cwd=model.ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"uv sync --no-dev failed: {done.stderr[-2000:]}"
    return venv / "bin" / "python"


def copied_sources(dockerfile: Path) -> list[str]:
    """Sources of the final stage's COPY lines (not those from another stage)."""
    final = dockerfile.read_text().rsplit("\nFROM ", 1)[1]
    sources = []
    for line in final.splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
            sources += words[1:-1]
    return sources


def build_tree(dockerfile: Path, tree: Path) -> list[str]:
    """Copy what the image copies into ``tree``; return what to import (modules, or files)."""
    entries = []
    for source in copied_sources(dockerfile):
        origin = model.ROOT / source
        if origin.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(origin, tree / source, ignore=ignore, dirs_exist_ok=True)
            files = sorted((tree / source).rglob("*.py"))
        else:
            (tree / source).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, tree / source)
            files = [tree / source]
        for path in files:
            relative = path.relative_to(tree)
            parts = [*relative.parent.parts, relative.stem]
            is_module = all(re.fullmatch(r"[A-Za-z_]\w*", p) for p in parts)
            if is_module and (tree / relative.parts[0] / "__init__.py").is_file():
                entries.append(".".join(p for p in parts if p != "__init__"))
            else:
                entries.append(str(relative))
    return entries


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_module_imports_from_what_the_image_holds(
    dockerfile: Path, tmp_path: Path, runtime_python: Path
) -> None:
    tree = tmp_path / "app"
    tree.mkdir()
    entries = build_tree(dockerfile, tree)
    assert entries, f"{dockerfile.name} copies no Python code"
    done = subprocess.run(
        [str(runtime_python), "-I", "-c", CHILD, str(tree)], input=json.dumps(entries),
        cwd=tree, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, (
        f"a module of {dockerfile.name} does not import from what the image holds (it copies "
        f"{', '.join(copied_sources(dockerfile))}; packages without the dev group):\n"
        f"{done.stderr[-3000:]}"
    )


def test_the_locust_image_holds_the_services_package_the_scenarios_import() -> None:
    # loadtests/techempower.py imports services.common.work: without services/ in the image,
    # Locust cannot load that locustfile.
    [locust] = [d for d in DOCKERFILES if d.name == "locust.Dockerfile"]
    assert "services/" in copied_sources(locust)
