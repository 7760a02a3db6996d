"""The README's Kubernetes section says what the manifests need: the Secret they refer to, the
images they run, the overlays there are, and the commands that regenerate and check them."""

from __future__ import annotations

import re

import pytest

from asynclab import k8s
from asynclab.settings import ROOT
from tests.k8s.manifests import OVERLAYS, containers, rendered, workloads


def section() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"^## Kubernetes\n(.*?)(?=^## )", text, re.M | re.S)
    if match is None:
        pytest.fail("README.md has no '## Kubernetes' section")
    return match.group(1)


def test_the_secret_is_named_with_its_keys() -> None:
    text = section()
    for word in (k8s.SECRET, k8s.POSTGRES_PASSWORD_KEY, k8s.GRAFANA_PASSWORD_KEY):
        assert word in text, word


def test_every_overlay_is_named() -> None:
    text = section()
    for name in OVERLAYS:
        assert f"overlays/{name}" in text, name


def test_every_image_the_lab_builds_is_named() -> None:
    own = {
        box["image"]
        for workload in workloads(rendered("lab"))
        for box in containers(workload)
        if box["image"].startswith("asynclab-")
    }
    text = section()
    for image in own:
        assert f"-t {image}" in text or f" {image}\n" in text or f"{image} " in text, image


def test_the_regenerate_and_check_commands_are_there() -> None:
    text = section()
    assert k8s.REGENERATE in text
    assert "python -m asynclab.k8s_check" in text
