"""What every object of the Kubernetes lab must have, as compose's services do: the same budget
for every variant, .env's limits and images, no default credential, probes, and Postgres and
Grafana fed from the repository's own files (db/, grafana/), not copies."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from asynclab.k8s import GRAFANA_PASSWORD_KEY, POSTGRES_PASSWORD_KEY, SECRET
from asynclab.registry import SERVICES
from asynclab.settings import ROOT, LabSettings
from asynclab.variants import VARIANTS
from tests.compose import model
from tests.k8s.manifests import OVERLAYS, containers, find, pod_spec, rendered, workloads

ENV = model.env_file()
INSIDE = LabSettings.model_construct()
LAB = "lab"


def quantity_cpu(docker: str) -> str:
    millis = round(float(docker) * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def quantity_memory(docker: str) -> str:
    number, unit = re.fullmatch(r"(\d+)([kmg])", docker).groups()  # type: ignore[union-attr]
    return f"{number}{unit.upper()}i"


def budget(prefix: str) -> dict[str, str]:
    return {
        "cpu": quantity_cpu(ENV[f"{prefix}_CPUS"]),
        "memory": quantity_memory(ENV[f"{prefix}_MEM_LIMIT"]),
    }


def every_rendering() -> list[str]:
    return [*OVERLAYS, *VARIANTS]


# --- budgets ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", every_rendering())
def test_every_service_variant_gets_the_same_guaranteed_budget(name: str) -> None:
    # Fairness, as compose's SERVICE_CPUS and SERVICE_MEM_LIMIT: requests equal to the limits,
    # so that a variant also gets what it may use, whichever node it lands on.
    for service in SERVICES:
        [box] = containers(find(rendered(name), "Deployment", service))
        assert box["resources"] == {"requests": budget("SERVICE"), "limits": budget("SERVICE")}


@pytest.mark.parametrize(
    ("deployment", "prefix"),
    [("upstream", "UPSTREAM"), ("locust-master", "GENERATOR"), ("locust-worker", "GENERATOR")],
)
def test_shared_parts_get_envs_budget_guaranteed(deployment: str, prefix: str) -> None:
    [box] = containers(find(rendered(LAB), "Deployment", deployment))
    assert box["resources"] == {"requests": budget(prefix), "limits": budget(prefix)}


def test_postgres_gets_envs_budget_guaranteed() -> None:
    [box] = containers(find(rendered(LAB), "StatefulSet", "postgres"))
    assert box["resources"] == {"requests": budget("POSTGRES"), "limits": budget("POSTGRES")}


@pytest.mark.parametrize("deployment", ["prometheus", "grafana", "postgres-exporter"])
def test_monitoring_is_limited_as_in_compose(deployment: str) -> None:
    [box] = containers(find(rendered(LAB), "Deployment", deployment))
    assert box["resources"]["limits"] == budget("MONITORING")
    for kind, amount in box["resources"]["requests"].items():
        assert amount, kind  # some, so that the scheduler counts it


@pytest.mark.parametrize("name", OVERLAYS)
def test_every_container_has_requests_and_limits(name: str) -> None:
    for workload in workloads(rendered(name)):
        for box in containers(workload):
            for kind in ("requests", "limits"):
                assert set(box["resources"][kind]) == {"cpu", "memory"}, workload["metadata"]


# --- images -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "name", "variable"),
    [
        ("StatefulSet", "postgres", "POSTGRES_IMAGE"),
        ("Deployment", "prometheus", "PROMETHEUS_IMAGE"),
        ("Deployment", "grafana", "GRAFANA_IMAGE"),
        ("Deployment", "postgres-exporter", "POSTGRES_EXPORTER_IMAGE"),
    ],
)
def test_third_party_images_are_envs_pins(kind: str, name: str, variable: str) -> None:
    [box] = containers(find(rendered(LAB), kind, name))
    assert box["image"] == ENV[variable], f"deploy/k8s/base: {name} must run {ENV[variable]}"


def test_the_labs_own_images_are_built_here_not_pulled() -> None:
    own = [
        box
        for workload in workloads(rendered(LAB))
        for box in containers(workload)
        if box["image"].startswith("asynclab-")
    ]
    assert {box["image"] for box in own} >= {"asynclab-service:dev", "asynclab-locust:dev"}
    assert all(box["imagePullPolicy"] == "IfNotPresent" for box in own)


# --- credentials --------------------------------------------------------------------------------


def secret_refs(value: Any) -> list[dict[str, str]]:
    if isinstance(value, dict):
        found = [value["secretKeyRef"]] if "secretKeyRef" in value else []
        return found + [r for v in value.values() for r in secret_refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in secret_refs(v)]
    return []


@pytest.mark.parametrize("name", OVERLAYS)
def test_no_credential_is_written_down(name: str) -> None:
    objects = rendered(name)
    # The user creates the Secret (README); the manifests only refer to it.
    assert not [o for o in objects if o["kind"] == "Secret"]
    refs = secret_refs(objects)
    assert {r["name"] for r in refs} == {SECRET}
    assert {r["key"] for r in refs} == {POSTGRES_PASSWORD_KEY, GRAFANA_PASSWORD_KEY}
    text = yaml.safe_dump_all(objects)
    assert f":{INSIDE.postgres_password}@" not in text  # the native lab's local password
    for workload in workloads(objects):
        for box in containers(workload):
            for entry in box.get("env", []):
                if "PASSWORD" in entry["name"]:
                    assert "value" not in entry, entry["name"]
                if "postgresql://" in entry.get("value", ""):
                    assert ":$(ASYNCLAB_POSTGRES_PASSWORD)@" in entry["value"], entry["name"]
                    # Kubernetes expands $(VAR) only from a variable defined before it.
                    names = [e["name"] for e in box["env"]]
                    assert names.index("ASYNCLAB_POSTGRES_PASSWORD") < names.index(entry["name"])


def test_grafana_takes_its_admin_password_from_the_secret() -> None:
    [box] = containers(find(rendered(LAB), "Deployment", "grafana"))
    env = {e["name"]: e for e in box["env"]}
    password = env["GF_SECURITY_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert password == {"name": SECRET, "key": GRAFANA_PASSWORD_KEY}
    # As compose: dashboards readable without a login, editing needs the password.
    compose = model.services()["grafana"]["environment"]
    for key, value in compose.items():
        if key != "GF_SECURITY_ADMIN_PASSWORD":
            assert env[key]["value"] == value, key


# --- probes and pods ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", every_rendering())
def test_services_are_ready_on_readyz_and_alive_on_healthz(name: str) -> None:
    objects = rendered(name)
    for service in SERVICES:
        [box] = containers(find(objects, "Deployment", service))
        assert box["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert box["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert box["ports"] == [{"name": "http", "containerPort": SERVICES[service].port}]


def test_every_long_running_container_but_the_workers_has_a_readiness_probe() -> None:
    for workload in workloads(rendered(LAB)):
        for box in containers(workload):
            if box["name"] != "locust-worker":  # nothing connects to a worker
                assert "readinessProbe" in box, box["name"]


def test_a_service_answers_on_its_native_port_under_its_own_name() -> None:
    objects = rendered(LAB)
    for service in SERVICES.values():
        kube = find(objects, "Service", service.name)
        pod = find(objects, "Deployment", service.name)["spec"]["template"]["metadata"]
        assert kube["spec"]["ports"] == [
            {"name": "http", "port": service.port, "targetPort": "http"}
        ]
        for key, value in kube["spec"]["selector"].items():
            assert pod["labels"][key] == value


@pytest.mark.parametrize("name", OVERLAYS)
def test_one_variant_at_a_time(name: str) -> None:
    # The next variant starts once the last has stopped (compose's switch removes the other
    # variants first): never two on one Service, the database or a node's CPUs.
    for service in SERVICES:
        deployment = find(rendered(name), "Deployment", service)
        assert deployment["spec"]["replicas"] == 1
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}


@pytest.mark.parametrize("name", OVERLAYS)
def test_pods_run_unprivileged_without_service_links(name: str) -> None:
    for workload in workloads(rendered(name)):
        spec = pod_spec(workload)
        # LOCUST_MASTER_PORT=tcp://... from a Service link would be read as a Locust option.
        assert spec["enableServiceLinks"] is False, workload["metadata"]["name"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        for box in containers(workload):
            assert box["securityContext"]["allowPrivilegeEscalation"] is False
            assert box["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_services_stop_within_composes_grace_period() -> None:
    for service in SERVICES:
        spec = pod_spec(find(rendered(LAB), "Deployment", service))
        assert spec["terminationGracePeriodSeconds"] == 15


# --- Postgres -----------------------------------------------------------------------------------


def config_map(objects: list[dict[str, Any]], volume: dict[str, Any]) -> dict[str, Any]:
    return find(objects, "ConfigMap", volume["configMap"]["name"])


def volumes_by_mount(workload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    volumes = {v["name"]: v for v in pod_spec(workload).get("volumes", [])}
    [box] = containers(workload)
    return {
        m["mountPath"]: volumes[m["name"]]
        for m in box.get("volumeMounts", [])
        if m["name"] in volumes
    }


def test_postgres_is_a_statefulset_that_loads_the_one_sql_source() -> None:
    objects = rendered(LAB)
    postgres = find(objects, "StatefulSet", "postgres")
    schema = volumes_by_mount(postgres)["/docker-entrypoint-initdb.d"]
    assert config_map(objects, schema)["data"] == {"init.sql": (ROOT / "db/init.sql").read_text()}
    claims = postgres["spec"]["volumeClaimTemplates"]
    [box] = containers(postgres)
    assert {m["name"]: m["mountPath"] for m in box["volumeMounts"]}[claims[0]["metadata"]["name"]]
    # Ready only once the schema is in: the entrypoint's temporary server has no TCP listener.
    assert box["readinessProbe"]["exec"]["command"][:3] == ["pg_isready", "-h", "127.0.0.1"]


def test_postgres_is_the_native_database() -> None:
    objects = rendered(LAB)
    [box] = containers(find(objects, "StatefulSet", "postgres"))
    env = {e["name"]: e.get("value") for e in box["env"]}
    assert (env["POSTGRES_USER"], env["POSTGRES_DB"]) == (
        ENV["ASYNCLAB_POSTGRES_USER"],
        ENV["ASYNCLAB_POSTGRES_DB"],
    )
    assert env["PGPORT"] == str(INSIDE.postgres_port)
    assert f"max_connections={ENV['ASYNCLAB_POSTGRES_MAX_CONNECTIONS']}" in box["args"]
    assert f"synchronous_commit={ENV['ASYNCLAB_POSTGRES_SYNCHRONOUS_COMMIT']}" in box["args"]
    kube = find(objects, "Service", "postgres")
    assert kube["spec"]["ports"][0]["port"] == INSIDE.postgres_port


def test_postgres_has_connections_for_any_variant_of_every_service() -> None:
    # One variant per service at a time (Recreate), the greediest of each at once, plus the
    # exporter and a psql.
    s = LabSettings.model_construct()
    worst = sum(max(v.db_slots(s) for v in VARIANTS.values() if v.framework == n) for n in SERVICES)
    assert worst + 10 <= int(ENV["ASYNCLAB_POSTGRES_MAX_CONNECTIONS"])


# --- Grafana ------------------------------------------------------------------------------------


def test_grafana_is_provisioned_from_the_repositorys_files() -> None:
    objects = rendered(LAB)
    grafana = find(objects, "Deployment", "grafana")
    mounts = volumes_by_mount(grafana)
    provisioning = ROOT / "grafana/provisioning"
    for kind in ("datasources", "dashboards"):
        data = config_map(objects, mounts[f"/etc/grafana/provisioning/{kind}"])["data"]
        assert data == {p.name: p.read_text() for p in (provisioning / kind).iterdir()}, kind
    providers = yaml.safe_load((provisioning / "dashboards/dashboards.yml").read_text())
    [provider] = providers["providers"]
    dashboards = config_map(objects, mounts[provider["options"]["path"]])["data"]
    files = sorted((ROOT / "grafana/dashboards").glob("*.json"))
    assert dashboards == {p.name: p.read_text() for p in files}, (
        "grafana/kustomization.yaml: list every file of grafana/dashboards under grafana-dashboards"
    )
    for text in dashboards.values():
        json.loads(text)


def test_grafanas_datasource_reaches_the_clusters_prometheus() -> None:
    objects = rendered(LAB)
    datasources = yaml.safe_load(
        (ROOT / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    [datasource] = datasources["datasources"]
    host, port = datasource["url"].removeprefix("http://").split(":")
    kube = find(objects, "Service", host)
    assert kube["spec"]["ports"][0]["port"] == int(port)
