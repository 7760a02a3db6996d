"""A service outside the compose lab: Locust's containers reach this machine by name, offer
ASYNCLAB_TARGET in the web UI, and scripts/compose.sh refuses one they cannot load before
anything starts. tests/bench/test_external.py checks the bench's side."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from helpers import free_port

from tests.compose import model
from tests.compose.test_scripts import COMPOSE, run

LOCUST = ("locust-master", "locust-worker", "locust-bench")
THIS_MACHINE = "host.docker.internal:host-gateway"

# A docker whose compose is new enough, records its calls, and runs `compose run SERVICE CMD`
# on this machine (a container would run the same files of the Locust image).
FAKE_DOCKER = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open({log!r}, "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[:2] == ["compose", "version"]:
    print("2.40.3")
elif "run" in args:
    command = args[args.index("locust-master") + 1:]
    os.execv({python!r}, [{python!r}, *command[1:]])
"""


@pytest.mark.parametrize("name", LOCUST)
def test_every_locust_reaches_this_machine_by_name(name: str) -> None:
    assert THIS_MACHINE in model.services()[name]["extra_hosts"]


def test_the_web_ui_offers_the_target_of_the_shell_or_none() -> None:
    assert model.services()["locust-master"]["environment"]["ASYNCLAB_TARGET"] == ""
    shell = {"ASYNCLAB_TARGET": "fastapi=http://host.docker.internal:9000"}
    for name in ("locust-master", "locust-worker"):
        environment = model.load(shell)["services"][name]["environment"]
        assert environment["ASYNCLAB_TARGET"] == shell["ASYNCLAB_TARGET"]


def fake_docker(tmp_path: Path) -> tuple[str, Path]:
    log = tmp_path / "docker-calls.jsonl"
    script = tmp_path / "docker"
    script.write_text(FAKE_DOCKER.format(python=sys.executable, log=str(log)))
    script.chmod(0o755)
    return str(script), log


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("fastapi=tcp://127.0.0.1:9000", "not an HTTP URL (tcp://)"),
        ("fastapi=http://127.0.0.1:{port}", "connection refused: is the service running"),
    ],
)
def test_a_target_the_containers_cannot_load_stops_the_start(
    tmp_path: Path, target: str, says: str
) -> None:
    docker, log = fake_docker(tmp_path)
    target = target.format(port=free_port())
    refused = run(COMPOSE, "up", DOCKER=docker, ASYNCLAB_TARGET=target,
                  ASYNCLAB_ENV_LOCAL=str(tmp_path / ".env.local"),
                  GRAFANA_ADMIN_PASSWORD="unused")  # fmt: skip
    assert refused.returncode == 2
    assert says in refused.stderr
    assert f"ASYNCLAB_TARGET={target}: the lab's Locust cannot load it" in refused.stderr
    assert "host.docker.internal" in refused.stderr
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    checks = [c for c in calls if "run" in c]
    assert len(checks) == 1
    assert checks[0][checks[0].index("locust-master") + 1 :] == [
        "python", "-m", "asynclab.target_check", target,
    ]  # fmt: skip
    assert not [c for c in calls if "up" in c], "nothing may start"
