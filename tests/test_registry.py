"""The service table: every row complete, and every consumer reading it rather than names.

tests/test_registry_files.py holds the static files (compose.yaml, Prometheus, Grafana, .env,
scripts/compose.sh) to the same table.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from asynclab.bench.profiles import Profile, ScenarioLevels
from asynclab.lab_cli import URL_LABELS
from asynclab.observability import JOBS, native_targets
from asynclab.registry import SERVICES, WEB_UI_TARGET, Service, get_service
from asynclab.settings import ROOT, LabSettings
from asynclab.variants import VARIANTS, get_variant
from asynclab.webui import targets_env
from services.common.config import ServiceConfig

ROWS = list(SERVICES.values())


def ids(service: Service) -> str:
    return service.name


@pytest.mark.parametrize("service", [s for s in ROWS if s.python], ids=ids)
def test_a_python_service_is_a_folder_with_an_app_factory(service: Service) -> None:
    app = ROOT / service.folder / "app.py"
    assert app.is_file(), f"{service.name}: {service.folder}/app.py with create_app() is missing"
    assert "def create_app(" in app.read_text(), f"{app} defines no create_app()"
    assert service.factory == f"{service.folder.replace('/', '.')}.app:create_app"


@pytest.mark.parametrize("service", [s for s in ROWS if not s.python], ids=ids)
def test_a_reference_service_is_its_own_server(service: Service) -> None:
    """Node and Go serve from their own programs, which their variants start."""
    for variant in (v for v in VARIANTS.values() if v.framework == service.name):
        assert variant.server == service.name, variant.name
        argv = variant.command(LabSettings.model_construct(), "python", 1)
        assert any(arg.startswith(f"{service.folder}/") for arg in argv), argv
    with pytest.raises(ValueError, match="has no Python factory"):
        assert service.factory


@pytest.mark.parametrize("service", ROWS, ids=ids)
def test_the_default_variant_is_one_of_the_services_variants(service: Service) -> None:
    assert get_variant(service.variant, service.name).name == service.variant


def test_every_variant_belongs_to_a_service_and_is_named_after_it() -> None:
    # compose.sh finds a service's variants by that prefix (`switch`, `up`).
    for variant in VARIANTS.values():
        assert get_service(variant.framework).name == variant.framework
        assert variant.name.startswith(f"{variant.framework}-"), variant.name


def test_names_ports_and_jobs_are_distinct() -> None:
    for field in ("name", "label", "port", "job", "folder"):
        values = [getattr(s, field) for s in ROWS]
        assert len(values) == len(set(values)), field
    # A service's default port is no other setting's default either.
    ports = [f.default for n, f in LabSettings.model_fields.items() if n.endswith("_port")]
    assert len(ports) == len(set(ports))


def test_an_unknown_service_names_the_known_ones() -> None:
    known = ", ".join(SERVICES)
    with pytest.raises(ValueError, match=f"unknown service 'django'; choose one of: {known}"):
        get_service("django")
    with pytest.raises(ValueError, match="unknown service 'django'"):
        get_variant("flask-sync", "django")


def test_a_name_must_fit_in_setting_and_host_names() -> None:
    with pytest.raises(ValueError, match="must match"):
        Service("fast-api", "x", "python", 1, "x", "asgi", "x", "services/x", ())


@pytest.mark.parametrize("service", ROWS, ids=ids)
def test_settings_have_a_port_and_a_variant_per_service(service: Service) -> None:
    defaults = LabSettings.model_construct()
    assert defaults.port(service.name) == service.port
    assert defaults.variant(service.name) == service.variant
    assert defaults.service_url(service.name) == f"http://127.0.0.1:{service.port}"
    assert service.port_env == f"ASYNCLAB_{service.name.upper()}_PORT"
    assert service.variant_env == f"ASYNCLAB_{service.name.upper()}_VARIANT"


@pytest.mark.parametrize("service", ROWS, ids=ids)
def test_settings_read_the_per_service_environment_variables(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    variant = [v for v in VARIANTS.values() if v.framework == service.name][-1].name
    monkeypatch.setenv(service.port_env, "9001")
    monkeypatch.setenv(service.variant_env, variant)
    settings = LabSettings()
    assert (settings.port(service.name), settings.variant(service.name)) == (9001, variant)
    assert settings.service_url(service.name) == "http://127.0.0.1:9001"
    monkeypatch.setenv(service.port_env, "0")
    with pytest.raises(ValidationError, match=service.port_setting):
        LabSettings()


def test_settings_refuse_an_unknown_service() -> None:
    with pytest.raises(ValueError, match="unknown service 'django'"):
        LabSettings.model_construct().port("django")


def test_services_accept_only_registry_names() -> None:
    base = {"variant": "x", "database_url": "postgresql://db", "upstream_url": "http://up"}
    for name in SERVICES:
        assert ServiceConfig(name=name, **base).name == name
    with pytest.raises(ValidationError, match="unknown service 'django'; choose one of"):
        ServiceConfig(name="django", **base)


def test_services_import_the_registry_alone_of_the_lab() -> None:
    # Every service process imports its configuration; the lab's runner has no place there.
    code = (
        "import sys, services.common.config; "
        "print(sorted(m for m in sys.modules if m.startswith('asynclab')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "['asynclab', 'asynclab.registry']"


def test_consumers_follow_the_table(tmp_path: Path) -> None:
    settings = LabSettings.model_construct(state_dir=tmp_path)
    assert [key for key, _ in URL_LABELS[: len(ROWS)]] == list(SERVICES)
    assert [label for _, label in URL_LABELS[: len(ROWS)]] == [s.label for s in ROWS]
    assert {s.job for s in ROWS} <= set(JOBS)
    targets = native_targets(settings)
    for service in ROWS:
        assert targets[service.job] == [f"127.0.0.1:{service.port}"]
    env = targets_env(settings)
    assert env.split(",")[0] == f"{WEB_UI_TARGET}={settings.service_url(WEB_UI_TARGET)}"
    assert sorted(env.split(",")) == sorted(f"{n}={settings.service_url(n)}" for n in SERVICES)


def test_the_bench_pairs_one_variant_of_each_service() -> None:
    by_service = {s: [v for v in VARIANTS.values() if v.framework == s] for s in SERVICES}
    profile = Profile(
        name="t", variants=tuple(VARIANTS), cells=(ScenarioLevels("json", (1,)),),
        repetitions=1, warmup_s=1, duration_s=1,
    )  # fmt: skip
    pairs = profile.pairs()
    assert len(pairs) == max(len(v) for v in by_service.values())
    for pair in pairs:
        frameworks = [get_variant(v).framework for v in pair]
        assert frameworks == [s for s in SERVICES if s in frameworks]  # the registry's order
    assert sorted(v for pair in pairs for v in pair) == sorted(VARIANTS)
