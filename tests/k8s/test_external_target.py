"""The README's overlay for a service outside the cluster renders and validates: an
ExternalName Service, and ASYNCLAB_TARGET in the Locust master's environment (the web UI's
Target list, as natively and in compose)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from asynclab import k8s_check
from asynclab.target import parse_target
from tests.k8s.manifests import find, need, pod_spec, problem
from tests.k8s.test_readme import section


def readme_files() -> dict[str, str]:
    """The YAML blocks of the Kubernetes section that name a file of ``my-lab/`` on their first
    line, by file name."""
    blocks = re.findall(r"```yaml\n(.*?)```", section(), re.S)
    files = {}
    for block in blocks:
        text = "\n".join(line.removeprefix("   ") for line in block.splitlines())
        named = re.match(r"# my-lab/([\w.-]+)", text)
        if named:
            files[named.group(1)] = text
    return files


def test_the_readmes_external_target_overlay_renders_and_validates(tmp_path: Path) -> None:
    files = readme_files()
    assert {"kustomization.yaml", "external-api.yaml"} <= set(files)
    folder = tmp_path / "my-lab"
    folder.mkdir()
    # The README's overlay sits beside deploy/; here it refers to it from a temporary folder.
    lab = os.path.relpath(k8s_check.OVERLAYS / "lab", folder)
    files["kustomization.yaml"] = files["kustomization.yaml"].replace(
        "../deploy/k8s/overlays/lab", lab
    )
    for name in ("kustomization.yaml", "external-api.yaml"):
        (folder / name).write_text(files[name])
    try:
        objects = k8s_check.render(folder)
    except k8s_check.MissingTool as exc:
        need(exc)
        raise
    for obj in objects:
        assert problem(obj) is None, k8s_check.describe(obj)

    alias = find(objects, "Service", "external-api")
    assert alias["spec"]["type"] == "ExternalName"
    assert alias["metadata"]["namespace"] == "asynclab"
    (master,) = pod_spec(find(objects, "Deployment", "locust-master"))["containers"]
    env = {e["name"]: e.get("value") for e in master["env"]}
    target = parse_target(env["ASYNCLAB_TARGET"])
    assert target.host == "external-api"
    assert "LOCUST_TARGETS" in env, "the lab's own services keep their entries"
    # The check the README gives runs the module the image holds, with the same target.
    assert f"python -m asynclab.target_check {target.text}" in " ".join(section().split())
    assert yaml.safe_load(files["external-api.yaml"])["kind"] == "Service"
