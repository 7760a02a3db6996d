"""One source of truth: compose starts what the native runner starts, from the same files.

For every variant of asynclab/variants.py, the compose service's command and environment,
with .env substituted, equal ``Variant.command()`` and ``Variant.environment()`` for the
settings in .env. Only the python path, the bind address and host names differ.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from asynclab.lab import upstream_command
from asynclab.observability import native_targets
from asynclab.settings import LabSettings
from asynclab.variants import GUNICORN_CONFIG, VARIANTS, Variant
from asynclab.webui import locust_web_command, targets_env
from tests.compose import model

CONTAINER_HOST = "0.0.0.0"  # inside a container the service must listen beyond loopback


def env_settings() -> LabSettings:
    """The settings .env describes (its ASYNCLAB_* values), whatever the test's environment."""
    values = {k[9:].lower(): v for k, v in model.env_file().items() if k.startswith("ASYNCLAB_")}
    return LabSettings.model_validate(values)


def port_of(settings: LabSettings, variant: Variant) -> int:
    return settings.flask_port if variant.framework == "flask" else settings.fastapi_port


def volume_sources(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> host path of the service's bind mounts from the repository."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            mounts[target] = source[2:]
    return mounts


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    return model.services()


@pytest.fixture(scope="module")
def settings() -> LabSettings:
    return env_settings()


@pytest.mark.parametrize("name", VARIANTS)
def test_command_is_the_native_command(
    name: str, services: dict[str, dict[str, Any]], settings: LabSettings
) -> None:
    variant = VARIANTS[name]
    command = services[name]["command"]
    expected = variant.command(settings, command[0], port_of(settings, variant), CONTAINER_HOST)
    assert command == expected


@pytest.mark.parametrize("name", VARIANTS)
def test_environment_is_the_native_environment(
    name: str, services: dict[str, dict[str, Any]], settings: LabSettings
) -> None:
    variant = VARIANTS[name]
    environment = services[name]["environment"]
    expected = variant.environment(
        settings,
        database_url=settings.database_url(host="postgres"),
        upstream_url=f"http://upstream:{settings.upstream_port}",
        metrics_dir=environment.get("PROMETHEUS_MULTIPROC_DIR", "<missing>"),
    )
    assert environment == expected, (
        f"compose.yaml's {name} environment must be exactly (with .env substituted): {expected}"
    )


def test_metrics_directory_is_a_fresh_tmpfs(services: dict[str, dict[str, Any]]) -> None:
    for name in VARIANTS:
        metrics_dir = services[name]["environment"]["PROMETHEUS_MULTIPROC_DIR"]
        assert metrics_dir in services[name]["tmpfs"], name


def test_upstream_command_is_the_native_command(
    services: dict[str, dict[str, Any]], settings: LabSettings
) -> None:
    command = services["upstream"]["command"]
    assert command == upstream_command(settings, command[0], settings.upstream_port, CONTAINER_HOST)


def test_services_run_from_the_sources_with_the_one_gunicorn_config(
    services: dict[str, dict[str, Any]],
) -> None:
    assert (model.ROOT / GUNICORN_CONFIG).is_file()
    dockerfile = (model.ROOT / "docker/service.Dockerfile").read_text()
    # The image's working directory holds services/ as the repository does, so the relative
    # config path and module names of the variant table resolve the same way.
    assert "WORKDIR /app" in dockerfile
    assert "COPY services/ services/" in dockerfile
    for name in [*VARIANTS, "upstream"]:
        assert services[name]["build"]["dockerfile"] == "docker/service.Dockerfile"


def test_postgres_loads_the_shared_sql(services: dict[str, dict[str, Any]]) -> None:
    mounts = volume_sources(services["postgres"])
    assert mounts["/docker-entrypoint-initdb.d/init.sql"] == "db/init.sql"


def test_postgres_is_the_native_database(
    services: dict[str, dict[str, Any]], settings: LabSettings
) -> None:
    postgres = services["postgres"]
    env = postgres["environment"]
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_DB"]) == (
        settings.postgres_user,
        settings.postgres_password,
        settings.postgres_db,
    )
    assert env["PGPORT"] == str(settings.postgres_port)
    assert f"max_connections={settings.postgres_max_connections}" in postgres["command"]


def test_postgres_has_connections_for_every_pool(settings: LabSettings) -> None:
    # Every variant at once (a switch may overlap the next start) plus the exporter and psql.
    needed = sum(v.db_slots(settings) for v in VARIANTS.values()) + 10
    assert settings.postgres_max_connections >= needed


def test_prometheus_uses_the_shared_configuration(services: dict[str, dict[str, Any]]) -> None:
    mounts = volume_sources(services["prometheus"])
    assert mounts["/etc/prometheus/prometheus.yml"] == "prometheus/prometheus.yml"
    assert mounts["/etc/prometheus/rules"] == "prometheus/rules"
    assert mounts["/etc/prometheus/targets"] == "prometheus/targets/compose"
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]


def scrape_targets() -> dict[str, list[str]]:
    found = {}
    for path in sorted((model.ROOT / "prometheus/targets/compose").glob("*.yml")):
        groups = yaml.safe_load(path.read_text()) or []
        found[path.stem] = [t for group in groups for t in group["targets"]]
    return found


def test_scrape_targets_are_compose_services_on_their_ports(
    services: dict[str, dict[str, Any]], settings: LabSettings
) -> None:
    # The native lab's targets with each loopback address replaced by the compose name, but
    # for the bench's generator: in compose the bench runs on the host (scripts/compose.sh
    # bench), beyond the reach of Prometheus' container, so only the web UI's master is listed.
    native = native_targets(settings, node=False)
    bench = f"{settings.host}:{settings.bench_metrics_port}"
    native["locust"] = [t for t in native["locust"] if t != bench]
    names = {
        "prometheus": "prometheus",
        "flask": "flask",
        "fastapi": "fastapi",
        "locust": "locust",
        "postgres": "postgres-exporter",
    }
    expected = {
        job: [t.replace(f"{settings.host}:", f"{names[job]}:") for t in targets]
        for job, targets in native.items()
        if job in names
    } | {"node": [], "cadvisor": ["cadvisor:8080"]}
    assert scrape_targets() == expected
    hosts = set(services) | {
        alias
        for service in services.values()
        for alias in service.get("networks", {}).get("default", {}).get("aliases", [])
    }
    for targets in expected.values():
        for target in targets:
            assert target.split(":")[0] in hosts, target


def test_grafana_uses_the_shared_provisioning(
    services: dict[str, dict[str, Any]], settings: LabSettings
) -> None:
    grafana = services["grafana"]
    mounts = volume_sources(grafana)
    assert mounts["/etc/grafana/provisioning"] == "grafana/provisioning"
    dashboards = grafana["environment"]["ASYNCLAB_GRAFANA_DASHBOARDS"]
    assert mounts[dashboards] == "grafana/dashboards"
    prometheus = f"http://prometheus:{settings.prometheus_port}"
    assert grafana["environment"]["ASYNCLAB_PROMETHEUS_URL"] == prometheus


def test_locust_master_is_the_native_web_ui(
    services: dict[str, dict[str, Any]], settings: LabSettings
) -> None:
    master = services["locust-master"]
    *command, role = master["command"]
    assert role == "--master"
    # Natively every address is settings.host; in compose each is the container's name.
    at = settings.model_copy(update={"host": "HOST"})
    in_compose = {
        "0.0.0.0": "HOST",
        "http://fastapi:": "http://HOST:",
        "http://flask:": "http://HOST:",
    }

    def native_names(text: str) -> str:
        for compose_name, native_name in in_compose.items():
            text = text.replace(compose_name, native_name)
        return text

    assert [native_names(arg) for arg in command] == locust_web_command(at, command[0])
    env = master["environment"]
    assert native_names(env["LOCUST_TARGETS"]) == targets_env(at)
    assert env["LOCUST_METRICS_HOST"] == "0.0.0.0"
    assert "locust" in master["networks"]["default"]["aliases"]


def test_locust_workers_load_the_masters_files(services: dict[str, dict[str, Any]]) -> None:
    master, worker = services["locust-master"], services["locust-worker"]
    files = master["command"][master["command"].index("-f") + 1]
    assert worker["command"] == [
        master["command"][0], "-m", "locust", "-f", files,
        "--worker", "--master-host", "locust-master",
    ]  # fmt: skip
    assert worker["environment"] == master["environment"]


def test_ports_inside_containers_are_the_native_ports(
    services: dict[str, dict[str, Any]], settings: LabSettings
) -> None:
    expected = {
        "upstream": settings.upstream_port,
        "postgres": settings.postgres_port,
        "prometheus": settings.prometheus_port,
        "grafana": settings.grafana_port,
        "locust-master": settings.locust_port,
        "postgres-exporter": settings.postgres_exporter_port,
    } | {name: port_of(settings, v) for name, v in VARIANTS.items()}
    for name, port in expected.items():
        assert services[name]["ports"] == [f"127.0.0.1:{port}:{port}"], name


def test_default_profiles_run_the_native_default_variants() -> None:
    default = LabSettings.model_construct()  # the defaults, whatever the environment says
    profiles = model.env_file()["COMPOSE_PROFILES"].split(",")
    assert profiles == [default.flask_variant, default.fastapi_variant]


def test_env_file_settings_are_the_native_defaults(settings: LabSettings) -> None:
    # A user who changes .env changes the compose lab only; the defaults must agree.
    defaults = LabSettings.model_construct()
    assert settings.model_dump(include=set(env_file_fields())) == defaults.model_dump(
        include=set(env_file_fields())
    )


def env_file_fields() -> list[str]:
    return [k[9:].lower() for k in model.env_file() if k.startswith("ASYNCLAB_")]


def test_every_env_file_setting_is_a_lab_setting() -> None:
    unknown = set(env_file_fields()) - set(LabSettings.model_fields)
    assert not unknown
