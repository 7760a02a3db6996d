"""Every overlay renders with kubectl's kustomize, and every object it renders is valid against
Kubernetes' own schemas (strict: a misspelt field fails too); so does every variant's component
over the lab."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest

from asynclab import k8s_check
from asynclab.registry import SERVICES
from asynclab.settings import ROOT
from asynclab.variants import VARIANTS
from tests.k8s.manifests import OVERLAYS, find, need, problem, rendered


def require_kubectl() -> None:
    try:
        k8s_check.kubectl()
    except k8s_check.MissingTool as exc:
        need(exc)


def test_the_overlays_a_team_needs_are_there() -> None:
    # The defaults, a switch of one service's variant, the generator scaled by the cluster.
    assert {"lab", "flask-gthread", "autoscaling"} <= set(OVERLAYS)


@pytest.mark.parametrize("name", OVERLAYS)
def test_every_object_of_the_overlay_is_valid(name: str) -> None:
    objects = rendered(name)
    assert objects
    problems = [p for o in objects if (p := problem(o))]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", VARIANTS)
def test_every_object_with_the_variant_switched_on_is_valid(name: str) -> None:
    objects = rendered(name)
    problems = [p for o in objects if (p := problem(o))]
    assert not problems, "\n".join(problems)
    deployment = find(objects, "Deployment", VARIANTS[name].framework)
    assert deployment["spec"]["template"]["metadata"]["labels"]["asynclab/variant"] == name


@pytest.mark.parametrize("name", OVERLAYS)
def test_the_overlay_runs_every_service_once_in_one_namespace(name: str) -> None:
    objects = rendered(name)
    assert {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"} == {
        "asynclab"
    }
    for service in SERVICES:
        find(objects, "Deployment", service)
        find(objects, "Service", service)
    names = [(o["kind"], o["metadata"]["name"]) for o in objects]
    assert len(names) == len(set(names))


def test_the_schema_check_can_fail() -> None:
    # A check that never fails proves nothing: a misspelt field and a wrong type are caught.
    deployment = copy.deepcopy(find(rendered("lab"), "Deployment", "flask"))
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    assert "imagePullPolcy" in (problem(deployment) or "")
    service = copy.deepcopy(find(rendered("lab"), "Service", "flask"))
    service["spec"]["ports"][0]["port"] = "eighty"
    assert "is not of type 'integer'" in (problem(service) or "")


def test_kustomize_refusals_are_reported_with_its_message() -> None:
    require_kubectl()
    with (
        k8s_check.overlay_with([ROOT / "deploy/k8s/variants/no-such-variant"]) as folder,
        pytest.raises(k8s_check.RenderError, match="no-such-variant"),
    ):
        k8s_check.render(folder)


def test_the_check_prints_a_valid_row_per_overlay_and_variant() -> None:
    require_kubectl()
    problem(rendered("lab")[0])  # kubernetes-validate is there too
    result = subprocess.run(
        [sys.executable, "-m", "asynclab.k8s_check"],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| overlays/")]
    assert len(rows) == len(OVERLAYS) + len(VARIANTS)
    assert all("| all valid |" in row for row in rows), result.stdout
