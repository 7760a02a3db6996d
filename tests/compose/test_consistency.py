"""One source of truth: compose starts what the native runner starts, from the same files.

compose.yaml names Python variants and nothing derived from them: each of their containers runs
``python -m asynclab.serve VARIANT --port N``, and ``asynclab serve`` builds the native
runner's command and environment from asynclab/variants.py and the ``ASYNCLAB_*`` settings the
container gets. The reference services' images have no Python: compose.yaml gives their
containers ``Variant.command()`` and ``Variant.environment()`` itself (tests/compose/reference.py
says how each variable is written). Inside the containers every port is the native default;
.env and the shell choose only the published side.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from asynclab.bench.compose_lab import GENERATOR_METRICS_PORT, LOAD_URLS
from asynclab.lab import Lab, upstream_command
from asynclab.observability import native_targets
from asynclab.registry import SERVICES
from asynclab.serve import serve_plan
from asynclab.settings import LabSettings
from asynclab.variants import GUNICORN_CONFIG, VARIANTS, Variant
from asynclab.webui import locust_web_command, targets_env
from tests.compose import model, reference
from tests.compose.reference import CONTAINER_HOST, INSIDE, changed_settings

SERVE = ("ASYNCLAB_SERVE_HOST", "ASYNCLAB_SERVE_DATABASE_URL", "ASYNCLAB_SERVE_UPSTREAM_URL",
         "ASYNCLAB_SERVE_METRICS_DIR")  # fmt: skip
PYTHON_VARIANTS = reference.python_variants()
REFERENCE_VARIANTS = reference.reference_variants()


def env_settings() -> LabSettings:
    """The settings .env describes (its ASYNCLAB_* values), whatever the test's environment."""
    values = {k[9:].lower(): v for k, v in model.env_file().items() if k.startswith("ASYNCLAB_")}
    return LabSettings.model_validate(values)


def port_inside(variant: Variant) -> int:
    return INSIDE.port(variant.framework)


def volume_sources(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> host path of the service's bind mounts from the repository."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            mounts[target] = source[2:]
    return mounts


def container_settings(environment: dict[str, str]) -> LabSettings:
    """What ``LabSettings()`` reads inside a container with this environment."""
    values = {
        k[9:].lower(): v
        for k, v in environment.items()
        if k.startswith("ASYNCLAB_") and k not in SERVE
    }
    return LabSettings.model_validate(values)


def changed_env() -> dict[str, str]:
    """Every lab setting set otherwise in the shell, as a user may: also one that .env lacks,
    so that a setting added to asynclab/settings.py for the variants cannot be forgotten in
    .env and compose.yaml."""
    return changed_settings()


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    return model.services()


@pytest.fixture(scope="module")
def settings() -> LabSettings:
    return env_settings()


@pytest.mark.parametrize("name", PYTHON_VARIANTS)
def test_each_variant_container_runs_serve_with_its_name_only(
    name: str, services: dict[str, dict[str, Any]]
) -> None:
    port = port_inside(VARIANTS[name])
    assert services[name]["command"] == [
        "python", "-m", "asynclab.serve", name, "--port", str(port),
    ]  # fmt: skip


@pytest.mark.parametrize("name", PYTHON_VARIANTS)
def test_compose_gives_variants_settings_not_values_derived_from_them(
    name: str, services: dict[str, dict[str, Any]]
) -> None:
    # Pool sizes, worker classes and process counts are asynclab serve's to compute.
    derived = set(VARIANTS[name].environment(INSIDE, "db", "upstream", "/metrics"))
    environment = services[name]["environment"]
    assert not derived & set(environment)
    assert all(key.startswith("ASYNCLAB_") for key in environment), environment


@pytest.mark.parametrize("name", PYTHON_VARIANTS)
def test_serve_in_a_container_follows_every_setting_of_the_shell(name: str) -> None:
    """Any setting changed in .env or the shell reaches what the container runs, as natively.

    Every setting is changed at once: one the variant depends on but compose does not pass
    would leave the container on its default and show here."""
    changed = changed_env()
    environment = model.load(changed)["services"][name]["environment"]
    # What the native lab would run with the same shell.
    wanted = container_settings(changed)
    addresses: dict[str, Any] = {
        "host": environment["ASYNCLAB_SERVE_HOST"],
        "database_url": environment["ASYNCLAB_SERVE_DATABASE_URL"],
        "upstream_url": environment["ASYNCLAB_SERVE_UPSTREAM_URL"],
        "metrics_dir": Path(environment["ASYNCLAB_SERVE_METRICS_DIR"]),
        "python": "python",
    }
    port = port_inside(VARIANTS[name])
    in_container = serve_plan(name, port, container_settings(environment), **addresses)
    native = serve_plan(name, port, wanted, **addresses)
    assert in_container.argv == native.argv
    assert in_container.env == native.env


@pytest.mark.parametrize("name", REFERENCE_VARIANTS)
def test_each_reference_container_runs_its_variants_command(
    name: str, services: dict[str, dict[str, Any]]
) -> None:
    # The native runner's command line, listening beyond loopback at the default port.
    assert services[name]["command"] == reference.container_command(VARIANTS[name])


@pytest.mark.parametrize("name", REFERENCE_VARIANTS)
def test_each_reference_container_gets_its_variants_environment(
    name: str, services: dict[str, dict[str, Any]]
) -> None:
    """What the native runner gives the variant for .env's settings, with the container's
    addresses (the same as x-serve-env's) and the container's CPUs for go-multi."""
    wanted = reference.container_environment(VARIANTS[name], model.env_file())
    assert services[name]["environment"] == wanted
    serve_env = services["flask-sync"]["environment"]
    assert wanted["SERVICE_DATABASE_URL"] == serve_env["ASYNCLAB_SERVE_DATABASE_URL"]
    assert wanted["SERVICE_UPSTREAM_URL"] == serve_env["ASYNCLAB_SERVE_UPSTREAM_URL"]
    assert serve_env["ASYNCLAB_SERVE_METRICS_DIR"] == reference.METRICS_DIR


@pytest.mark.parametrize("name", REFERENCE_VARIANTS)
def test_a_reference_container_follows_every_setting_of_the_shell(name: str) -> None:
    """Every setting changed at once, with what compose cannot compute changed to match (which
    scripts/compose.sh demands): the container gets what the native runner would."""
    shell = changed_env() | {"SERVICE_CPUS": "2.5"}
    values = model.env_file() | shell
    shell |= reference.all_derived_values(values)
    environment = model.load(shell)["services"][name]["environment"]
    assert environment == reference.container_environment(VARIANTS[name], values | shell)


@pytest.mark.parametrize("name", [n for n in REFERENCE_VARIANTS if reference.follows_the_cpus(n)])
def test_go_code_runs_on_the_whole_cpus_the_container_gets(
    name: str, services: dict[str, dict[str, Any]]
) -> None:
    # Go 1.19 does not read the container's CPU quota: without GOMAXPROCS it would run Go code
    # on every CPU of the machine and be throttled under a quota of one.
    service = services[name]
    assert service["environment"]["GOMAXPROCS"] == str(reference.whole_cpus(service["cpus"]))


def test_containers_reach_postgres_and_the_upstream_at_their_native_ports(
    services: dict[str, dict[str, Any]],
) -> None:
    changed = changed_env()
    environment = model.load(changed)["services"]["flask-sync"]["environment"]
    wanted = container_settings(changed).model_copy(update={"postgres_port": INSIDE.postgres_port})
    assert environment["ASYNCLAB_SERVE_DATABASE_URL"] == wanted.database_url(host="postgres")
    assert environment["ASYNCLAB_SERVE_UPSTREAM_URL"] == f"http://upstream:{INSIDE.upstream_port}"
    assert environment["ASYNCLAB_SERVE_HOST"] == CONTAINER_HOST


@pytest.mark.parametrize("name", VARIANTS)
def test_serve_is_the_native_runners_command_and_environment(name: str) -> None:
    s = LabSettings.model_construct()
    variant = VARIANTS[name]
    plan = serve_plan(name, 8123, s)
    assert plan.argv == variant.command(s, sys.executable, 8123)
    metrics = str(Lab(s).metrics_dir(variant.framework))
    native_env = variant.environment(s, s.database_url(), s.upstream_url, metrics)
    assert plan.env == {"PYTHONUNBUFFERED": "1", **native_env}
    assert plan.cwd == s.root


def test_the_upstream_runs_serve_and_serve_runs_the_native_upstream(
    services: dict[str, dict[str, Any]],
) -> None:
    port = INSIDE.upstream_port
    assert services["upstream"]["command"] == [
        "python", "-m", "asynclab.serve", "upstream", "--port", str(port),
    ]  # fmt: skip
    plan = serve_plan("upstream", port, INSIDE, host=CONTAINER_HOST, python="python")
    assert plan.argv == upstream_command(INSIDE, "python", port, CONTAINER_HOST)


def test_metrics_directory_is_a_fresh_tmpfs(services: dict[str, dict[str, Any]]) -> None:
    for name in PYTHON_VARIANTS:
        metrics_dir = services[name]["environment"]["ASYNCLAB_SERVE_METRICS_DIR"]
        assert metrics_dir in services[name]["tmpfs"], name


def test_services_run_from_the_sources_with_the_one_gunicorn_config(
    services: dict[str, dict[str, Any]],
) -> None:
    assert (model.ROOT / GUNICORN_CONFIG).is_file()
    dockerfile = (model.ROOT / "docker/service.Dockerfile").read_text()
    # The image's working directory holds services/ and asynclab/ as the repository does, so
    # the relative config path, the module names and `asynclab.serve` resolve the same way.
    assert "WORKDIR /app" in dockerfile
    assert "COPY services/ services/" in dockerfile
    assert "COPY asynclab/ asynclab/" in dockerfile
    for name in [*PYTHON_VARIANTS, "upstream"]:
        assert services[name]["build"]["dockerfile"] == "docker/service.Dockerfile"


@pytest.mark.parametrize("name", REFERENCE_VARIANTS)
def test_reference_images_hold_what_their_command_runs(
    name: str, services: dict[str, dict[str, Any]]
) -> None:
    """The image of the variant's service is built from its folder and runs the command from
    WORKDIR /app, as the native runner does from the project root (the engine test runs it)."""
    variant = VARIANTS[name]
    folder = SERVICES[variant.framework].folder
    path = services[name]["build"]["dockerfile"]
    assert path == f"docker/{variant.framework}.Dockerfile"
    text = (model.ROOT / path).read_text()
    final = text.rsplit("\nFROM ", 1)[1]
    assert f"COPY {folder}/ {folder}/" in text
    assert "\nWORKDIR /app\n" in final
    assert any(arg.startswith(f"{folder}/") for arg in services[name]["command"])
    # The OpenAPI document it serves (SERVICE_OPENAPI_PATH's default).
    assert "COPY services/common/openapi.json services/common/openapi.json" in final


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
    assert env["PGPORT"] == str(INSIDE.postgres_port)
    assert f"max_connections={settings.postgres_max_connections}" in postgres["command"]
    sync = f"synchronous_commit={settings.postgres_synchronous_commit}"
    assert sync in postgres["command"]


def test_postgres_has_connections_for_every_pool(
    services: dict[str, dict[str, Any]], settings: LabSettings
) -> None:
    # The variants of a service publish one port, so compose runs one of them at a time (and
    # `switch` removes the others first): the largest pool of each service at once, plus the
    # exporter and psql.
    largest: dict[str, int] = {}
    for variant in VARIANTS.values():
        slots = variant.db_slots(settings)
        largest[variant.framework] = max(largest.get(variant.framework, 0), slots)
    assert settings.postgres_max_connections >= sum(largest.values()) + 10
    for framework in largest:
        published = {
            str(services[n]["ports"]) for n, v in VARIANTS.items() if v.framework == framework
        }
        assert len(published) == 1, (framework, published)


def test_prometheus_uses_the_shared_configuration(services: dict[str, dict[str, Any]]) -> None:
    mounts = volume_sources(services["prometheus"])
    assert mounts["/etc/prometheus/prometheus.yml"] == "prometheus/prometheus.yml"
    assert mounts["/etc/prometheus/rules"] == "prometheus/rules"
    assert mounts["/etc/prometheus/targets"] == "prometheus/targets/compose"
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]
    assert f"--web.listen-address=:{INSIDE.prometheus_port}" in services["prometheus"]["command"]


def scrape_targets() -> dict[str, list[str]]:
    found = {}
    for path in sorted((model.ROOT / "prometheus/targets/compose").glob("*.yml")):
        groups = yaml.safe_load(path.read_text()) or []
        found[path.stem] = [t for group in groups for t in group["targets"]]
    return found


def test_scrape_targets_are_the_native_ones_by_container_name(
    services: dict[str, dict[str, Any]],
) -> None:
    # The native lab's targets at the default ports, each loopback address replaced by the
    # container's name; the targets never change with the published ports.
    native = native_targets(INSIDE, node=False)
    names = {
        f"{INSIDE.host}:{INSIDE.prometheus_port}": "prometheus",
        **{f"{INSIDE.host}:{INSIDE.port(name)}": name for name in SERVICES},
        f"{INSIDE.host}:{INSIDE.locust_metrics_port}": "locust",
        f"{INSIDE.host}:{INSIDE.bench_metrics_port}": "locust-bench",
        f"{INSIDE.host}:{INSIDE.postgres_exporter_port}": "postgres-exporter",
    }

    def by_name(target: str) -> str:
        return f"{names[target]}:{target.rsplit(':', 1)[1]}"

    expected = {job: [by_name(t) for t in targets] for job, targets in native.items()}
    expected |= {"node": [], "cadvisor": ["cadvisor:8080"]}
    assert scrape_targets() == expected
    hosts = set(services) | {
        alias
        for service in services.values()
        for alias in service.get("networks", {}).get("default", {}).get("aliases", [])
    }
    for targets in expected.values():
        for target in targets:
            assert target.split(":")[0] in hosts, target


def test_each_locust_serves_its_metrics_where_prometheus_scrapes(
    services: dict[str, dict[str, Any]],
) -> None:
    master, bench = services["locust-master"], services["locust-bench"]
    assert master["environment"]["LOCUST_METRICS_PORT"] == str(INSIDE.locust_metrics_port)
    assert bench["environment"]["LOCUST_METRICS_PORT"] == str(INSIDE.bench_metrics_port)
    assert str(INSIDE.bench_metrics_port) == GENERATOR_METRICS_PORT
    for service in (master, bench):
        assert service["environment"]["LOCUST_METRICS_HOST"] == CONTAINER_HOST


def test_the_bench_generator_loads_the_services_by_container_name() -> None:
    assert {name: f"http://{name}:{INSIDE.port(name)}" for name in SERVICES} == LOAD_URLS


def test_grafana_uses_the_shared_provisioning(services: dict[str, dict[str, Any]]) -> None:
    mounts = volume_sources(services["grafana"])
    provisioning = model.ROOT / "grafana" / "provisioning"
    # Only the folders the lab provisions: Grafana logs an error for each missing one.
    assert {t: s for t, s in mounts.items() if "provisioning" in t} == {
        f"/etc/grafana/provisioning/{kind}": f"grafana/provisioning/{kind}"
        for kind in ("datasources", "dashboards")
    }
    assert sorted(p.name for p in provisioning.iterdir()) == ["dashboards", "datasources"]
    [provider] = yaml.safe_load((provisioning / "dashboards/dashboards.yml").read_text())[
        "providers"
    ]
    assert mounts[provider["options"]["path"]] == "grafana/dashboards"
    assert provider["folderUid"]
    [datasource] = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())[
        "datasources"
    ]
    assert datasource["url"] == f"http://prometheus:{INSIDE.prometheus_port}"


def test_locust_master_is_the_native_web_ui(services: dict[str, dict[str, Any]]) -> None:
    master = services["locust-master"]
    *command, role = master["command"]
    assert role == "--master"
    # Natively every address is settings.host; in compose each is the container's name.
    at = INSIDE.model_copy(update={"host": "HOST"})
    in_compose = {"0.0.0.0": "HOST", **{f"http://{name}:": "http://HOST:" for name in SERVICES}}

    def native_names(text: str) -> str:
        for compose_name, native_name in in_compose.items():
            text = text.replace(compose_name, native_name)
        return text

    assert [native_names(arg) for arg in command] == locust_web_command(at, command[0])
    env = master["environment"]
    assert native_names(env["LOCUST_TARGETS"]) == targets_env(at)
    assert "locust" in master["networks"]["default"]["aliases"]


def test_locust_workers_load_the_masters_files(services: dict[str, dict[str, Any]]) -> None:
    master, worker = services["locust-master"], services["locust-worker"]
    files = master["command"][master["command"].index("-f") + 1]
    assert worker["command"] == [
        master["command"][0], "-m", "locust", "-f", files,
        "--worker", "--master-host", "locust-master",
    ]  # fmt: skip
    assert worker["environment"] == master["environment"]


def published(settings: LabSettings) -> dict[str, tuple[int, int]]:
    """Service -> (published port, port inside)."""
    pairs = {
        "upstream": (settings.upstream_port, INSIDE.upstream_port),
        "postgres": (settings.postgres_port, INSIDE.postgres_port),
        "prometheus": (settings.prometheus_port, INSIDE.prometheus_port),
        "grafana": (settings.grafana_port, INSIDE.grafana_port),
        "locust-master": (settings.locust_port, INSIDE.locust_port),
        "postgres-exporter": (settings.postgres_exporter_port, INSIDE.postgres_exporter_port),
    }
    for name, variant in VARIANTS.items():
        pairs[name] = (settings.port(variant.framework), port_inside(variant))
    return pairs


def test_ports_inside_are_the_native_defaults_and_published_ones_come_from_env(
    services: dict[str, dict[str, Any]], settings: LabSettings
) -> None:
    for name, (outside, inside) in published(settings).items():
        assert services[name]["ports"] == [f"127.0.0.1:{outside}:{inside}"], name


def test_ports_changed_in_the_shell_change_only_the_published_side() -> None:
    changed = {k: str(v) for k, v in zip(model.env_file(), range(20001, 20100), strict=False)
               if k.endswith("_PORT")}  # fmt: skip
    shell = container_settings(changed)
    services = model.load(changed)["services"]
    for name, (outside, inside) in published(shell).items():
        assert services[name]["ports"] == [f"127.0.0.1:{outside}:{inside}"], name
    unchanged = model.services()
    for name in services:
        assert services[name].get("command") == unchanged[name].get("command"), name
        assert services[name].get("healthcheck") == unchanged[name].get("healthcheck"), name


def test_default_profiles_run_the_native_default_variants() -> None:
    default = LabSettings.model_construct()  # the defaults, whatever the environment says
    profiles = model.env_file()["COMPOSE_PROFILES"].split(",")
    assert profiles == [default.variant(name) for name in SERVICES]


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
