"""The scrape configuration and recording rules, checked by Prometheus's own promtool, and the
proof that compose and the native lab share one configuration (only target addresses differ)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from asynclab import observability
from asynclab.registry import SERVICES
from asynclab.settings import ROOT, LabSettings

PROMETHEUS = ROOT / "prometheus"
COMPOSE_TARGETS = PROMETHEUS / "targets" / "compose"
needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool missing (Debian package prometheus)"
)


def promtool(*args: str | Path, cwd: Path = ROOT) -> str:
    result = subprocess.run(
        ["promtool", *map(str, args)], cwd=cwd, capture_output=True, text=True, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def compose_layout(dest: Path) -> Path:
    """The files as compose mounts them: the config, its rules, the compose targets."""
    shutil.copyfile(PROMETHEUS / "prometheus.yml", dest / "prometheus.yml")
    shutil.copytree(PROMETHEUS / "rules", dest / "rules")
    shutil.copytree(COMPOSE_TARGETS, dest / "targets")
    return dest / "prometheus.yml"


def native_layout(tmp_path: Path) -> Path:
    settings = LabSettings(state_dir=tmp_path)
    return observability.render_config(settings, observability.native_targets(settings))


def target_files(directory: Path) -> dict[str, list[dict[str, list[str]]]]:
    return {f.stem: yaml.safe_load(f.read_text()) for f in sorted(directory.glob("*.yml"))}


@needs_promtool
def test_compose_config_is_valid_and_complete(tmp_path: Path) -> None:
    output = promtool("check", "config", compose_layout(tmp_path))
    assert "WARNING" not in output  # a missing target file is only a warning


@needs_promtool
def test_native_config_is_valid_and_complete(tmp_path: Path) -> None:
    output = promtool("check", "config", native_layout(tmp_path))
    assert "WARNING" not in output


@needs_promtool
def test_rules_are_valid() -> None:
    promtool("check", "rules", *sorted((PROMETHEUS / "rules").glob("*.yml")))


@needs_promtool
def test_rules_unit_tests_pass() -> None:
    promtool("test", "rules", *sorted((PROMETHEUS / "tests").glob("*.yml")))


def test_both_modes_share_one_configuration(tmp_path: Path) -> None:
    config = native_layout(tmp_path)
    assert config.read_bytes() == (PROMETHEUS / "prometheus.yml").read_bytes()
    for rule in (PROMETHEUS / "rules").glob("*.yml"):
        assert (config.parent / "rules" / rule.name).read_bytes() == rule.read_bytes()

    jobs = [job["job_name"] for job in yaml.safe_load(config.read_text())["scrape_configs"]]
    assert sorted(jobs) == sorted(observability.JOBS)
    native = target_files(config.parent / "targets")
    compose = target_files(COMPOSE_TARGETS)
    assert set(native) == set(compose) == set(jobs)
    # Only addresses differ; a job present in one mode only (node, cadvisor) is an empty list.
    only_native, only_compose = {"node"}, {"cadvisor"}
    for job in jobs:
        assert bool(native[job]) == (job not in only_compose), job
        assert bool(compose[job]) == (job not in only_native), job
        for groups in (native[job], compose[job]):
            assert all(set(group) == {"targets"} for group in groups), job


def test_native_targets_use_the_lab_ports(tmp_path: Path) -> None:
    ports = {s.port_setting: 18001 + i for i, s in enumerate(SERVICES.values())}
    settings = LabSettings(state_dir=tmp_path, **ports)
    targets = observability.native_targets(settings, node=False)
    for i, service in enumerate(SERVICES.values()):
        assert targets[service.job] == [f"127.0.0.1:{18001 + i}"]
    assert targets["node"] == []


def test_both_locust_masters_are_scraped(tmp_path: Path) -> None:
    # The web UI's Locust and a bench's can run at once; Prometheus' instance label tells
    # them apart, so the bench's generator is on the dashboards while the web UI is up.
    settings = LabSettings(state_dir=tmp_path, locust_metrics_port=19646, bench_metrics_port=19647)
    targets = observability.native_targets(settings)
    assert targets["locust"] == ["127.0.0.1:19646", "127.0.0.1:19647"]


def test_every_scrape_job_uses_the_live_demo_interval() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["global"]["scrape_interval"] == "2s"
    assert all("scrape_interval" not in job for job in config["scrape_configs"])


def test_missing_binaries_are_named_with_their_package(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing installed
    assert observability.observability_processes(LabSettings(state_dir=tmp_path)) == []
    err = capsys.readouterr().err
    for package in ("prometheus", "prometheus-postgres-exporter", "prometheus-node-exporter"):
        assert f"apt-get install {package})" in err
