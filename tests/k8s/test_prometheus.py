"""The cluster's Prometheus: the lab's global settings and recording rules, its targets found
from pod annotations. The relabelling is run by a real Prometheus over the discovery labels
Kubernetes would give the rendered pods (Debian's build has no Kubernetes discovery: the same
labels come from a file instead)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import free_port, poll_until, terminate

from asynclab.k8s import JOB_ANNOTATION
from asynclab.settings import ROOT
from tests.compose import model
from tests.k8s.manifests import containers, find, pod_spec, rendered, workloads

SHARED = yaml.safe_load((ROOT / "prometheus/prometheus.yml").read_text())
CLUSTER = yaml.safe_load((ROOT / "deploy/k8s/base/prometheus.yml").read_text())
# Jobs with nothing to scrape in a cluster: the host's node exporter (native only) and
# cAdvisor (compose only); the kubelet has its own, outside the lab's namespace.
ELSEWHERE = {"node", "cadvisor"}


def test_the_cluster_config_has_the_labs_global_settings_and_rules() -> None:
    assert CLUSTER["global"] == SHARED["global"]
    assert CLUSTER["rule_files"] == SHARED["rule_files"]


def test_the_rules_are_the_repositorys_files() -> None:
    objects = rendered("lab")
    prometheus = find(objects, "Deployment", "prometheus")
    volumes = {v["name"]: v for v in pod_spec(prometheus)["volumes"]}
    [box] = containers(prometheus)
    mounts = {m["mountPath"]: volumes[m["name"]] for m in box["volumeMounts"]}
    rules = find(objects, "ConfigMap", mounts["/etc/prometheus/rules"]["configMap"]["name"])
    files = sorted((ROOT / "prometheus/rules").glob("*.yml"))
    assert rules["data"] == {p.name: p.read_text() for p in files}, (
        "prometheus/kustomization.yaml: list every file of prometheus/rules"
    )
    config = find(
        objects, "ConfigMap", mounts["/etc/prometheus/prometheus.yml"]["configMap"]["name"]
    )
    assert yaml.safe_load(config["data"]["prometheus.yml"]) == CLUSTER
    # compose's command line, the same paths.
    assert box["args"] == model.services()["prometheus"]["command"]


def annotated(objects: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Workload name -> its pods' scrape annotations."""
    found = {}
    for workload in workloads(objects):
        scrape = workload["spec"]["template"]["metadata"].get("annotations", {})
        if scrape.get("prometheus.io/scrape") == "true":
            found[workload["metadata"]["name"]] = scrape
    return found


def test_every_job_of_the_lab_is_some_pods_annotation() -> None:
    objects = rendered("lab")
    jobs = {a[JOB_ANNOTATION] for a in annotated(objects).values()}
    shared = {job["job_name"] for job in SHARED["scrape_configs"]}
    assert jobs == shared - ELSEWHERE


def test_each_annotated_port_is_a_declared_container_port() -> None:
    # The relabelling keeps the discovered target whose container port is the annotated one.
    objects = rendered("lab")
    for name, scrape in annotated(objects).items():
        ports = [
            p["containerPort"]
            for b in containers(find_workload(objects, name))
            for p in b.get("ports", [])
        ]
        assert int(scrape["prometheus.io/port"]) in ports, name


def find_workload(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    [found] = [w for w in workloads(objects) if w["metadata"]["name"] == name]
    return found


def test_prometheus_may_list_the_pods_of_its_namespace_only() -> None:
    objects = rendered("lab")
    prometheus = find(objects, "Deployment", "prometheus")
    account = pod_spec(prometheus)["serviceAccountName"]
    binding = find(objects, "RoleBinding", "prometheus")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account, "namespace": "asynclab"}
    ]
    role = find(objects, binding["roleRef"]["kind"], binding["roleRef"]["name"])
    assert role["kind"] == "Role"
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}
    ]
    assert CLUSTER["scrape_configs"][0]["kubernetes_sd_configs"] == [
        {"role": "pod", "namespaces": {"own_namespace": True}}
    ]


# --- the relabelling, run by Prometheus ---------------------------------------------------------


def meta_name(annotation: str) -> str:
    """How Prometheus' Kubernetes discovery names an annotation's label."""
    return "__meta_kubernetes_pod_annotation_" + re.sub(r"[^a-zA-Z0-9_]", "_", annotation)


def discovered(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The targets Kubernetes' pod discovery gives for the rendered pods: one per declared
    container port, with the pod's annotations and phase; plus two pods it must drop."""
    groups = []
    for i, workload in enumerate(workloads(objects)):
        pod = f"{workload['metadata']['name']}-0"
        pod_annotations = workload["spec"]["template"]["metadata"].get("annotations", {})
        for box in containers(workload):
            for port in box.get("ports", []):
                labels = {
                    "__meta_kubernetes_pod_name": pod,
                    "__meta_kubernetes_pod_phase": "Running",
                    "__meta_kubernetes_pod_container_port_number": str(port["containerPort"]),
                    **{meta_name(k): v for k, v in pod_annotations.items()},
                }
                groups.append(
                    {"targets": [f"10.0.0.{i + 1}:{port['containerPort']}"], "labels": labels}
                )
    pending = {
        "__meta_kubernetes_pod_name": "flask-starting",
        "__meta_kubernetes_pod_phase": "Pending",
        "__meta_kubernetes_pod_container_port_number": "8001",
        meta_name("prometheus.io/scrape"): "true",
        meta_name("prometheus.io/port"): "8001",
        meta_name(JOB_ANNOTATION): "flask",
    }
    groups.append({"targets": ["10.0.1.1:8001"], "labels": pending})
    unannotated = {**pending, "__meta_kubernetes_pod_phase": "Running"}
    del unannotated[meta_name("prometheus.io/scrape")]
    groups.append({"targets": ["10.0.1.2:8001"], "labels": unannotated})
    return groups


def active_targets(port: int) -> list[dict[str, Any]] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/targets", timeout=5) as r:
            body = json.load(r)
    except OSError:
        return None
    targets: list[dict[str, Any]] = body["data"]["activeTargets"]
    return targets or None


def test_prometheus_scrapes_each_annotated_pod_once_under_its_job(tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        message = "the relabelling test needs prometheus (apt-get install prometheus)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    objects = rendered("lab")
    (tmp_path / "pods.json").write_text(json.dumps(discovered(objects)))
    shutil.copytree(ROOT / "prometheus/rules", tmp_path / "rules")
    config = json.loads(json.dumps(CLUSTER))
    [job] = config["scrape_configs"]
    job["file_sd_configs"] = [{"files": [str(tmp_path / "pods.json")]}]
    del job["kubernetes_sd_configs"]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        targets = poll_until(lambda: active_targets(port), "Prometheus to list its targets")
    finally:
        terminate(proc)
    found = sorted(
        (t["labels"]["job"], t["labels"]["instance"], t["scrapeUrl"].split("/", 3)[3])
        for t in targets
    )
    wanted = sorted(
        (a[JOB_ANNOTATION], f"{name}-0:{a['prometheus.io/port']}", "metrics")
        for name, a in annotated(objects).items()
    )
    assert found == wanted
