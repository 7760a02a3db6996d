"""scripts/lab_mode.sh picks the lab; scripts/compose.sh keeps secrets out of the repository
and refuses a Compose too old for it.

Unit tests of the scripts' own logic, with a stand-in docker command where an engine would
answer; tests/engine runs them for real on a private Docker engine.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.compose import model, reference

LAB_MODE = model.ROOT / "scripts" / "lab_mode.sh"
COMPOSE = model.ROOT / "scripts" / "compose.sh"


def run(script: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # Only what the test says: a setting exported by whoever runs the tests must not leak in.
    ours = ("ASYNCLAB_", "GRAFANA_", "COMPOSE_", "DOCKER")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    return subprocess.run(
        [str(script), *args], env=clean | env, capture_output=True, text=True, check=False
    )


def engine_answers() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    return subprocess.run([docker, "info"], capture_output=True, check=False).returncode == 0


@pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker client")
def test_picks_native_here_because_no_engine_answers() -> None:
    if engine_answers():
        pytest.skip("a Docker engine answers on this machine")
    result = run(LAB_MODE)
    assert result.returncode == 0
    assert result.stdout == "native\n"
    assert "no Docker engine answers" in result.stderr


def test_picks_native_without_a_docker_command() -> None:
    result = run(LAB_MODE, DOCKER="/nonexistent/docker")
    assert result.stdout == "native\n"
    assert "no docker command" in result.stderr


def fake_docker(tmp_path: Path, compose_version: str) -> str:
    """A docker command whose engine answers and whose compose plugin has this version."""
    script = tmp_path / "docker"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1 $2" = "compose version" ]; then echo "{compose_version}"; fi\n'
        "exit 0\n"
    )
    script.chmod(0o755)
    return str(script)


def test_picks_compose_when_the_engine_answers(tmp_path: Path) -> None:
    result = run(LAB_MODE, DOCKER=fake_docker(tmp_path, "2.40.3"))
    assert result.stdout == "compose\n"
    assert "a Docker engine answers" in result.stderr


@pytest.mark.parametrize("version", ["2.12.2", "v2.16.0", "1.29.2"])
def test_an_old_compose_is_named_with_what_to_install(tmp_path: Path, version: str) -> None:
    docker = fake_docker(tmp_path, version)
    result = run(LAB_MODE, DOCKER=docker)
    assert result.stdout == "native\n"
    assert f"Docker Compose {version.lstrip('v')} is older than 2.17" in result.stderr
    assert "docker-compose-plugin" in result.stderr
    # Forced into compose mode, the compose script refuses rather than failing halfway.
    refused = run(COMPOSE, "down", DOCKER=docker)
    assert refused.returncode == 2
    assert "too old" in refused.stderr
    assert "docker-compose-plugin" in refused.stderr


@pytest.mark.parametrize("version", ["2.17.0", "v2.23.1", "2.40.3"])
def test_compose_217_and_newer_are_enough(tmp_path: Path, version: str) -> None:
    assert run(LAB_MODE, DOCKER=fake_docker(tmp_path, version)).stdout == "compose\n"


def test_a_missing_compose_plugin_is_named(tmp_path: Path) -> None:
    result = run(LAB_MODE, DOCKER="/bin/true")  # answers, prints no compose version
    assert result.stdout == "native\n"
    assert "compose plugin is missing" in result.stderr


@pytest.mark.parametrize("mode", ["native", "compose"])
def test_asynclab_mode_forces_the_choice(mode: str) -> None:
    result = run(LAB_MODE, ASYNCLAB_MODE=mode, DOCKER="/nonexistent/docker")
    assert result.stdout == f"{mode}\n"
    assert f"ASYNCLAB_MODE={mode}" in result.stderr


def test_an_unknown_mode_is_refused() -> None:
    result = run(LAB_MODE, ASYNCLAB_MODE="podman")
    assert result.returncode == 2
    assert "auto, native or compose" in result.stderr


def test_urls_come_from_the_settings(tmp_path: Path) -> None:
    env_local = tmp_path / ".env.local"
    env_local.write_text("ASYNCLAB_GRAFANA_PORT=3300\n")
    result = run(COMPOSE, "urls", ASYNCLAB_ENV_LOCAL=str(env_local), ASYNCLAB_FLASK_PORT="9101")
    assert result.returncode == 0, result.stderr
    expected = {
        "Locust": "http://127.0.0.1:8089",  # .env
        "Grafana": "http://127.0.0.1:3300",  # .env.local wins over .env
        "Prometheus": "http://127.0.0.1:9090",
        "Flask": "http://127.0.0.1:9101",  # the shell wins over both
        "FastAPI": "http://127.0.0.1:8002",
    }
    for name, url in expected.items():
        assert re.search(rf"^  {name} +{re.escape(url)}\b", result.stdout, re.M), result.stdout


def test_first_start_writes_a_private_random_grafana_password(tmp_path: Path) -> None:
    env_local = tmp_path / ".env.local"
    # /bin/false as docker: the password is written before compose is asked to start anything.
    first = run(COMPOSE, "up", ASYNCLAB_ENV_LOCAL=str(env_local), DOCKER="/bin/false")
    assert first.returncode != 0
    text = env_local.read_text()
    assert re.fullmatch(r"GRAFANA_ADMIN_PASSWORD=[0-9a-f]{32}\n", text)
    assert stat.S_IMODE(env_local.stat().st_mode) == 0o600
    run(COMPOSE, "up", ASYNCLAB_ENV_LOCAL=str(env_local), DOCKER="/bin/false")
    assert env_local.read_text() == text, "a second start must keep the password"


def test_a_password_from_the_shell_is_not_written_anywhere(tmp_path: Path) -> None:
    env_local = tmp_path / ".env.local"
    run(
        COMPOSE,
        "up",
        ASYNCLAB_ENV_LOCAL=str(env_local),
        DOCKER="/bin/false",
        GRAFANA_ADMIN_PASSWORD="from-the-shell",
    )
    assert not env_local.exists()


def test_env_local_is_gitignored() -> None:
    assert ".env.local" in (model.ROOT / ".gitignore").read_text().split()


def test_an_unknown_command_prints_the_usage() -> None:
    result = run(COMPOSE, "launch")
    assert result.returncode == 2
    assert "scripts/compose.sh up" in result.stderr


# --- what compose cannot compute for the reference services ------------------------------------


def test_compose_sh_checks_every_value_env_derives_for_the_reference_services() -> None:
    names = re.findall(r'^  echo "(\w+) \$\(', COMPOSE.read_text(), re.M)
    assert sorted(names) == sorted(reference.all_derived_values(model.env_file()))


@pytest.mark.parametrize(
    "shell",
    [
        {},
        {"ASYNCLAB_DB_POOL_SIZE": "60"},
        {"ASYNCLAB_WORKERS": "4", "ASYNCLAB_HTTP_POOL_SIZE": "50"},
        {"ASYNCLAB_WORKERS": "8", "ASYNCLAB_HTTP_POOL_SIZE": "5"},  # at least one each
        {"SERVICE_CPUS": "2.5"},
        {"SERVICE_CPUS": "0.5"},
        {"SERVICE_CPUS": "3"},
    ],
)
def test_a_start_on_another_budget_needs_what_compose_cannot_compute(
    tmp_path: Path, shell: dict[str, str]
) -> None:
    """scripts/compose.sh computes node-cluster's pools per worker and go-multi's GOMAXPROCS as
    asynclab/variants.py does, and refuses to start before they agree, saying what to set."""
    values = model.env_file() | shell
    wanted = reference.all_derived_values(values)
    stale = {name: value for name, value in wanted.items() if model.env_file()[name] != value}
    base = {"ASYNCLAB_ENV_LOCAL": str(tmp_path / ".env.local"), "DOCKER": "/bin/false",
            "GRAFANA_ADMIN_PASSWORD": "unused"}  # fmt: skip
    for command in (["up"], ["switch", "node", "node-cluster"]):
        alone = run(COMPOSE, *command, **base, **shell)
        assert alone.returncode == 2
        for name, value in stale.items():
            assert f"set {name}={value} beside them" in alone.stderr, alone.stderr
        # Set too, they pass the check, and compose is asked (here: no engine answers).
        started = run(COMPOSE, *command, **base, **shell, **wanted)
        assert "compose cannot compute" not in started.stderr, started.stderr
        assert "does not answer" in started.stderr, started.stderr
        if not stale:
            assert "does not answer" in alone.stderr


@pytest.mark.parametrize(
    ("shell", "named"),
    [
        ({"ASYNCLAB_WORKERS": "many"}, "ASYNCLAB_WORKERS=many"),
        ({"SERVICE_CPUS": "1,5"}, "SERVICE_CPUS=1,5"),
    ],
)
def test_a_setting_that_is_no_number_is_named(
    tmp_path: Path, shell: dict[str, str], named: str
) -> None:
    refused = run(COMPOSE, "up", ASYNCLAB_ENV_LOCAL=str(tmp_path / ".env.local"),
                  DOCKER="/bin/false", GRAFANA_ADMIN_PASSWORD="unused", **shell)  # fmt: skip
    assert refused.returncode == 2
    assert named in refused.stderr
    assert "not a number" in refused.stderr
