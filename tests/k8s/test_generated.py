"""The committed service parts of deploy/k8s are what asynclab/k8s.py makes of the tables.

asynclab/registry.py, asynclab/variants.py and .env are the sources; deploy/k8s/services and
deploy/k8s/variants are written from them, never by hand. Each failure says how to regenerate.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from asynclab import k8s
from asynclab.registry import SERVICES
from asynclab.settings import ROOT, LabSettings
from asynclab.variants import VARIANTS

FIX = f"run `.venv/bin/{k8s.REGENERATE}` and commit deploy/k8s"


def test_every_generated_file_is_what_the_tables_give() -> None:
    wanted = k8s.render()
    for path, text in wanted.items():
        committed = (ROOT / path).read_text() if (ROOT / path).is_file() else None
        assert committed == text, f"{path} is not what the tables give: {FIX}"


def test_no_generated_folder_holds_a_file_the_tables_do_not_give() -> None:
    stale = sorted(map(str, k8s.generated_paths() - set(k8s.render())))
    assert not stale, f"left from an older table: {stale}: {FIX} (it removes them)"


def test_one_component_per_variant_and_one_file_per_service() -> None:
    assert sorted(p.name for p in (ROOT / k8s.VARIANTS_DIR).iterdir()) == sorted(VARIANTS)
    names = {p.stem for p in (ROOT / k8s.SERVICES_DIR).glob("*.yaml")}
    assert names == {*SERVICES, k8s.UPSTREAM, "kustomization"}


def test_regenerating_writes_the_same_files_and_removes_stale_ones(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text((ROOT / ".env").read_text())
    gone = tmp_path / k8s.VARIANTS_DIR / "flask-retired"
    gone.mkdir(parents=True)
    (gone / "patch.yaml").write_text("[]\n")
    written = k8s.write(tmp_path)
    assert not gone.exists()
    assert {p: (tmp_path / p).read_text() for p in written} == k8s.render()


def test_the_shell_does_not_change_the_manifests(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only .env sizes the variants, as compose; a developer's ASYNCLAB_WORKERS must not leak
    # into the committed files.
    before = k8s.render()
    monkeypatch.setenv("ASYNCLAB_WORKERS", "7")
    monkeypatch.setenv("ASYNCLAB_DB_POOL_SIZE", "99")
    assert k8s.render() == before


def test_settings_are_env_files_and_ports_the_native_defaults() -> None:
    values = {**k8s.env_file(), "ASYNCLAB_WORKERS": "5", "ASYNCLAB_FLASK_PORT": "9001"}
    s = k8s.cluster_settings(values)
    assert s.workers == 5
    # .env's ports are compose's published ones; inside, every program has its default.
    assert s.port("flask") == LabSettings.model_construct().port("flask")


@pytest.mark.parametrize(
    ("docker", "kubernetes"), [("1.0", "1"), ("2.0", "2"), ("0.5", "500m"), ("1.25", "1250m")]
)
def test_cpu_limits_become_quantities(docker: str, kubernetes: str) -> None:
    assert k8s.cpu_quantity(docker) == kubernetes


@pytest.mark.parametrize(
    ("docker", "kubernetes"), [("768m", "768Mi"), ("1g", "1Gi"), ("512M", "512Mi"), ("64k", "64Ki")]
)
def test_memory_limits_become_quantities(docker: str, kubernetes: str) -> None:
    assert k8s.memory_quantity(docker) == kubernetes


@pytest.mark.parametrize("bad", ["768", "1.5g", "lots", ""])
def test_a_memory_limit_kubernetes_cannot_take_is_named(bad: str) -> None:
    with pytest.raises(ValueError, match="768m or 1g"):
        k8s.memory_quantity(bad)
