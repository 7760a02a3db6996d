"""One source of truth: a pod of the Kubernetes lab runs what compose and the native runner run.

compose's service containers exec ``asynclab serve``'s plan (``serve_plan``), which
tests/compose/test_consistency.py proves is the native runner's ``Variant.command()`` and
``Variant.environment()``. Here every service's pod, in every overlay and with every variant
switched on, is held to that same plan: the settings compose's containers read from .env, and
compose's own in-container addresses (``ASYNCLAB_SERVE_*``: the names postgres and upstream
are the cluster's Services too). The only differences are the cluster's, each checked: the
password comes from the Secret, and go-multi's GOMAXPROCS from its CPU limit.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from asynclab.k8s import PASSWORD_ENV, POSTGRES_PASSWORD_KEY, SECRET
from asynclab.lab import upstream_command
from asynclab.registry import SERVICES
from asynclab.serve import serve_plan
from asynclab.settings import ROOT, LabSettings
from asynclab.variants import VARIANTS
from asynclab.webui import LOCUSTFILES, locust_web_command, targets_env
from tests.compose import model
from tests.k8s.manifests import OVERLAYS, containers, find, rendered

# What every compose service container gets (x-serve-env), .env interpolated.
SERVE_ENV: dict[str, str] = model.services()["upstream"]["environment"]
INSIDE = LabSettings.model_construct()  # every port inside a pod: the native default
DOCKERFILE = (ROOT / "docker/service.Dockerfile").read_text()


@pytest.fixture(autouse=True)
def _no_settings_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    # The manifests follow .env only; so must the settings they are compared with.
    for key in list(os.environ):
        if key.startswith("ASYNCLAB_"):
            monkeypatch.delenv(key)


def compose_settings() -> LabSettings:
    """What ``LabSettings()`` reads in a compose service container (its ASYNCLAB_* values)."""
    values = {
        k[9:].lower(): v
        for k, v in SERVE_ENV.items()
        if k.startswith("ASYNCLAB_") and not k.startswith("ASYNCLAB_SERVE_")
    }
    return LabSettings.model_validate(values)


def cluster_database_url() -> str:
    """compose's database URL, its password replaced by the Secret's, expanded by Kubernetes
    from the container's earlier variable."""
    url = SERVE_ENV["ASYNCLAB_SERVE_DATABASE_URL"]
    password = model.env_file()["ASYNCLAB_POSTGRES_PASSWORD"]
    assert f":{password}@" in url
    return url.replace(f":{password}@", f":$({PASSWORD_ENV})@", 1)


def compose_plan(name: str, port: int) -> Any:
    return serve_plan(
        name,
        port,
        compose_settings(),
        host=SERVE_ENV["ASYNCLAB_SERVE_HOST"],
        database_url=cluster_database_url(),
        upstream_url=SERVE_ENV["ASYNCLAB_SERVE_UPSTREAM_URL"],
        metrics_dir=Path(SERVE_ENV["ASYNCLAB_SERVE_METRICS_DIR"]),
        python="python",
    )


def check_service_pod(objects: list[dict[str, Any]], service: str) -> str:
    """Assert that the service's pod runs its variant as compose would; return the variant."""
    deployment = find(objects, "Deployment", service)
    name = deployment["spec"]["template"]["metadata"]["labels"]["asynclab/variant"]
    variant = VARIANTS[name]
    assert variant.framework == service
    assert deployment["metadata"]["labels"]["asynclab/variant"] == name
    [box] = containers(deployment)
    plan = compose_plan(name, INSIDE.port(service))
    assert box["command"] == plan.argv, name
    assert "args" not in box
    # The image's WORKDIR is the repository's root, the plan's working directory.
    assert f"WORKDIR {box['workingDir']}" in DOCKERFILE
    # The image sets PYTHONUNBUFFERED itself; everything else is the plan's, in its order.
    assert "PYTHONUNBUFFERED=1" in DOCKERFILE
    wanted = {k: v for k, v in plan.env.items() if k != "PYTHONUNBUFFERED"}
    password = {"secretKeyRef": {"name": SECRET, "key": POSTGRES_PASSWORD_KEY}}
    assert box["env"][0] == {"name": PASSWORD_ENV, "valueFrom": password}
    assert [e["name"] for e in box["env"][1:]] == list(wanted), name
    for entry in box["env"][1:]:
        key = entry["name"]
        if key == "GOMAXPROCS" and name == "go-multi":
            # "GOMAXPROCS = the service's CPUs": natively the CPUs it is pinned to; in a pod
            # its CPU limit (the same for every variant), rounded up by the Downward API.
            source = {"containerName": service, "resource": "limits.cpu", "divisor": "1"}
            assert entry == {"name": key, "valueFrom": {"resourceFieldRef": source}}
        else:
            assert entry == {"name": key, "value": wanted[key]}, f"{name}: {key}"
    return name


@pytest.mark.parametrize("name", VARIANTS)
def test_the_variants_pod_runs_what_compose_and_the_native_runner_run(name: str) -> None:
    objects = rendered(name)
    assert check_service_pod(objects, VARIANTS[name].framework) == name
    # Switching one service leaves every other on its default, as compose's switch does.
    for service in SERVICES:
        if service != VARIANTS[name].framework:
            assert check_service_pod(objects, service) == SERVICES[service].variant


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_every_overlay_runs_its_services_as_compose_would(overlay: str, service: str) -> None:
    check_service_pod(rendered(overlay), service)


def test_the_lab_runs_the_default_variants() -> None:
    # The registry's defaults, which compose's COMPOSE_PROFILES names too (test_registry_files).
    served = {s: check_service_pod(rendered("lab"), s) for s in SERVICES}
    assert served == {s.name: s.variant for s in SERVICES.values()}


def test_the_switch_overlay_changes_one_service_and_nothing_else() -> None:
    lab, switched = rendered("lab"), rendered("flask-gthread")
    assert check_service_pod(switched, "flask") == "flask-gthread"

    def others(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        flask = ("Deployment", "flask")
        return [o for o in objects if (o["kind"], o["metadata"]["name"]) != flask]

    assert others(switched) == others(lab)


def test_the_upstream_runs_what_compose_runs() -> None:
    deployment = find(rendered("lab"), "Deployment", "upstream")
    [box] = containers(deployment)
    port = INSIDE.upstream_port
    plan = serve_plan("upstream", port, compose_settings(), host=SERVE_ENV["ASYNCLAB_SERVE_HOST"],
                      python="python")  # fmt: skip
    assert box["command"] == plan.argv == upstream_command(INSIDE, "python", port, "0.0.0.0")
    assert "env" not in box
    assert model.services()["upstream"]["command"][-1] == str(port)


def services_by_name(text: str) -> str:
    """Native addresses for the cluster's: 0.0.0.0 and http://<Service>: become HOST."""
    text = text.replace("0.0.0.0", "HOST")
    return re.sub(rf"http://({'|'.join(SERVICES)}):", "http://HOST:", text)


def test_the_locust_master_is_the_native_web_ui() -> None:
    master = find(rendered("lab"), "Deployment", "locust-master")
    [box] = containers(master)
    *command, role, rebalancing = box["command"]
    assert (role, rebalancing) == ("--master", "--enable-rebalancing")
    # One Locust process per worker pod: the native --processes has no place here.
    at = INSIDE.model_copy(update={"host": "HOST", "pin_cpus": False})
    assert [services_by_name(arg) for arg in command] == locust_web_command(at, "python")
    env = {e["name"]: e["value"] for e in box["env"]}
    assert services_by_name(env["LOCUST_TARGETS"]) == targets_env(at)
    compose_master = model.services()["locust-master"]
    assert env["LOCUST_METRICS_HOST"] == compose_master["environment"]["LOCUST_METRICS_HOST"]
    assert env["LOCUST_METRICS_PORT"] == str(INSIDE.locust_metrics_port)
    ports = {p["name"]: p["containerPort"] for p in box["ports"]}
    assert ports == {"web": INSIDE.locust_port, "master": 5557, "metrics": 9646}


def test_the_web_ui_offers_every_service_by_its_service_name() -> None:
    master = find(rendered("lab"), "Deployment", "locust-master")
    env = {e["name"]: e["value"] for e in containers(master)[0]["env"]}
    targets = dict(part.split("=", 1) for part in env["LOCUST_TARGETS"].split(","))
    objects = rendered("lab")
    for name, url in targets.items():
        port = find(objects, "Service", name)["spec"]["ports"][0]["port"]
        assert url == f"http://{name}:{port}"
    assert set(targets) == set(SERVICES)


def test_locust_workers_load_the_masters_files_from_the_master() -> None:
    objects = rendered("lab")
    master = containers(find(objects, "Deployment", "locust-master"))[0]
    worker_deployment = find(objects, "Deployment", "locust-worker")
    worker = containers(worker_deployment)[0]
    assert worker["command"] == [
        "python", "-m", "locust", "-f", LOCUSTFILES, "--worker", "--master-host", "locust-master",
    ]  # fmt: skip
    assert worker["env"] == master["env"]
    assert worker["image"] == master["image"]
    assert worker_deployment["spec"]["replicas"] == int(model.env_file()["LOCUST_WORKERS"])
    master_port = find(objects, "Service", "locust-master")["spec"]["ports"]
    assert {"name": "master", "port": 5557, "targetPort": "master"} in master_port
