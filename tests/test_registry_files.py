"""The static files that name each service, held to asynclab/registry.py.

compose.yaml, .env, the Prometheus configuration, the Grafana dashboard and scripts/compose.sh
stay plain files (they are read by tools, not by Python), one block per service. For a row
added to the registry, each failure below says exactly what to add, and where; the check is
made against that same text, so what the message asks for is what passes.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from asynclab.registry import SERVICES, WEB_UI_TARGET, Service
from asynclab.settings import ROOT
from asynclab.variants import VARIANTS
from tests.compose import model, reference
from tests.observability.dashboards import DASHBOARDS, load, panels

ROWS = list(SERVICES.values())
PROMETHEUS = ROOT / "prometheus"
COMPOSE_SH = ROOT / "scripts" / "compose.sh"


def ids(service: Service) -> str:
    return service.name


def variants_of(service: Service) -> list[str]:
    return [v.name for v in VARIANTS.values() if v.framework == service.name]


# --- compose.yaml -------------------------------------------------------------------------------


def compose_block(service: Service) -> str:
    """What every variant of the service shares: its alias, published port and healthcheck;
    a reference service (its own server) also its image, built by docker/<name>.Dockerfile."""
    n, port = service.name, service.port
    if service.python:
        head = "  <<: *service\n"
        probe = f'[CMD, python, docker/healthcheck.py, "http://127.0.0.1:{port}/readyz"]'
    else:
        args = "".join(f"      {arg}: ${{{arg}}}\n" for arg in base_image_args(service))
        head = (
            "  <<: *variant\n"
            "  build:\n"
            "    context: .\n"
            f"    dockerfile: {dockerfile(service)}\n" + (f"    args:\n{args}" if args else "")
        )
        probe = (
            '[CMD, /bin/busybox, wget, -q, -Y, "off", -O, /dev/null, '
            f'"http://127.0.0.1:{port}/readyz"]'
        )
    return (
        f"x-{n}: &{n}\n"
        f"{head}"
        f"  networks:\n"
        f"    default:\n"
        f"      aliases: [{n}]\n"
        f"  ports:\n"
        f"    - ${{BIND_ADDRESS}}:${{{service.port_env}}}:{port}\n"
        f"  healthcheck:\n"
        f"    <<: *healthcheck\n"
        f"    test: {probe}\n"
    )


def dockerfile(service: Service) -> str:
    return f"docker/{service.name}.Dockerfile"


def base_image_args(service: Service) -> list[str]:
    """The base images its Dockerfile takes as build arguments (``ARG NODE_BASE_IMAGE=...``
    before the first FROM), which .env names."""
    path = ROOT / dockerfile(service)
    head = path.read_text().split("\nFROM ", 1)[0] if path.is_file() else ""
    return re.findall(r"^ARG (\w+_IMAGE)=", head, re.M)


def flow(items: list[str]) -> str:
    """A YAML flow sequence of strings, quoting only what YAML would read otherwise."""
    return "[" + ", ".join(scalar(item) for item in items) + "]"


def scalar(text: str) -> str:
    return text if yaml.safe_load(text) == text and "," not in text else json.dumps(text)


def variant_block(service: Service, variant: str) -> str:
    head = f"  {variant}:\n    <<: *{service.name}\n    profiles: [{variant}]\n"
    if service.python:
        return (
            head
            + f'    command: [python, -m, asynclab.serve, {variant}, --port, "{service.port}"]\n'
        )
    environment = "".join(
        f"      {key}: {scalar(value)}\n"
        for key, value in reference.compose_environment(variant).items()
    )
    return (
        f"{head}"
        f"    command: {flow(reference.container_command(VARIANTS[variant]))}\n"
        f"    environment:\n"
        f"      <<: *reference-env\n"
        f"{environment}"
    )


def parsed(text: str) -> dict[str, Any]:
    """``text`` as compose reads it, with compose.yaml's own anchors (x-service, ...)."""
    raw = model.raw()
    anchors = "".join(
        f"x-{name}: &{name} {json.dumps(raw[f'x-{name}'])}\n"
        for name in ("healthcheck", "service", "variant", "reference-env")
    )
    data: dict[str, Any] = yaml.safe_load(anchors + text)
    return data


@pytest.mark.parametrize("service", ROWS, ids=ids)
def test_compose_has_the_services_block(service: Service) -> None:
    block = compose_block(service)
    wanted = parsed(block)[f"x-{service.name}"]
    assert model.raw().get(f"x-{service.name}") == wanted, (
        f"compose.yaml: service {service.name} needs this block, beside x-flask (before "
        f"`services:`); a comment above it may say why it differs from the others:\n\n{block}"
    )


@pytest.mark.parametrize("service", ROWS, ids=ids)
def test_compose_has_a_block_per_variant(service: Service) -> None:
    services = model.raw()["services"]
    for variant in variants_of(service):
        block = variant_block(service, variant)
        wanted = parsed(f"{compose_block(service)}services:\n{block}")["services"][variant]
        assert services.get(variant) == wanted, (
            f"compose.yaml: variant {variant} of service {service.name} needs this block under "
            f"`services:`, beside the other variants:\n\n{block}"
        )


def test_compose_default_profiles_are_the_default_variants() -> None:
    wanted = ",".join(s.variant for s in ROWS)
    assert model.env_file().get("COMPOSE_PROFILES") == wanted, (
        f".env: one variant per service, the registry's defaults: COMPOSE_PROFILES={wanted}"
    )


@pytest.mark.parametrize("service", ROWS, ids=ids)
def test_env_file_gives_what_compose_cannot_compute(service: Service) -> None:
    # A reference service's values derived from settings (node-cluster's pools per worker,
    # go-multi's GOMAXPROCS), for .env's settings; scripts/compose.sh checks them.
    wanted: dict[str, str] = {}
    for variant in variants_of(service) if not service.python else []:
        wanted |= reference.derived_values(variant, model.env_file())
    lines = "\n".join(f"{name}={value}" for name, value in wanted.items())
    found = {name: model.env_file().get(name) for name in wanted}
    assert found == wanted, (
        f".env: service {service.name} needs these lines under `# --- resource limits`, beside "
        f"SERVICE_CPUS (and scripts/compose.sh's derived_values() a line for each):\n\n{lines}"
    )


@pytest.mark.parametrize("service", ROWS, ids=ids)
def test_env_file_publishes_the_services_port(service: Service) -> None:
    line = f"{service.port_env}={service.port}"
    assert model.env_file().get(service.port_env) == str(service.port), (
        f".env: add `{line}` under `# --- ports`, beside the other services' ports"
    )


def test_the_web_ui_offers_every_service_by_container_name() -> None:
    names = [WEB_UI_TARGET, *(n for n in SERVICES if n != WEB_UI_TARGET)]
    targets = ",".join(f"{n}=http://{n}:{SERVICES[n].port}" for n in names)
    master = model.raw()["services"]["locust-master"]
    assert master["environment"]["LOCUST_TARGETS"] == targets, (
        f"compose.yaml, locust-master: set `LOCUST_TARGETS: {targets}`"
    )
    host = f"http://{WEB_UI_TARGET}:{SERVICES[WEB_UI_TARGET].port}"
    assert master["command"][master["command"].index("-H") + 1] == host


# --- Prometheus ---------------------------------------------------------------------------------


def scrape_job(service: Service) -> str:
    job = service.job
    return f"  - job_name: {job}\n    file_sd_configs: [{{files: [targets/{job}.yml]}}]\n"


def compose_targets(service: Service) -> str:
    return f'- targets: ["{service.name}:{service.port}"]\n'


@pytest.mark.parametrize("service", ROWS, ids=ids)
def test_prometheus_scrapes_the_service(service: Service) -> None:
    jobs = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())["scrape_configs"]
    found = [job for job in jobs if job["job_name"] == service.job]
    block = scrape_job(service)
    assert found == yaml.safe_load(block), (
        f"prometheus/prometheus.yml: service {service.name} needs this job under "
        f"`scrape_configs:`, after the other services' jobs:\n\n{block}"
    )


@pytest.mark.parametrize("service", ROWS, ids=ids)
def test_compose_targets_name_the_services_container(service: Service) -> None:
    path = PROMETHEUS / "targets" / "compose" / f"{service.job}.yml"
    text = compose_targets(service)
    found = yaml.safe_load(path.read_text()) if path.is_file() else None
    assert found == yaml.safe_load(text), (
        f"{path.relative_to(ROOT)}: create it with this line (compose's Prometheus scrapes the "
        f"service by its network alias, at its port inside the container):\n\n{text}"
    )


# --- Grafana ------------------------------------------------------------------------------------

SERVICES_DASHBOARD = ROOT / "grafana" / "dashboards" / "flask-vs-fastapi.json"
# The series each service exports (docs/contract.md, Metrics), and the rules' sums of them.
SERVICE_SERIES = re.compile(r"\b(http_|db_pool_|process_|event_loop_|service_variant)")
CONTAINER_NAME = re.compile(r'name=~"([^"]*)"')
SERVICE_FILTER = 'service=~"$service"'
CONTAINERS = ".*(${service}).*"


def service_selector() -> dict[str, Any]:
    """The dashboard's Service variable as the registry needs it: every service, All by default."""
    names = list(SERVICES)
    return {
        "name": "service",
        "type": "custom",
        "query": ",".join(names),
        "multi": True,
        "includeAll": True,
        # "All" is the registry's list, not ".*": the container panels match it in names.
        "allValue": "|".join(names),
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
    }


def test_the_services_dashboard_selects_among_every_service() -> None:
    wanted = service_selector()
    variables = {v["name"]: v for v in load(SERVICES_DASHBOARD)["templating"]["list"]}
    found = {k: variables.get("service", {}).get(k) for k in wanted}
    assert found == wanted, (
        f"{SERVICES_DASHBOARD.relative_to(ROOT)}: the `service` template variable must list "
        f"every service of the registry, all selected by default:\n\n"
        f"{json.dumps(wanted, indent=2)}\n\n(its options: one per service, after All)"
    )
    options = [o["value"] for o in variables["service"].get("options", [])]
    assert options in ([], ["$__all", *SERVICES]), options


def test_every_service_panel_follows_the_selector() -> None:
    """A panel of service series shows what the selector picks: all four services by default,
    never two fixed ones; the container panels (cAdvisor names containers, not services:
    asynclab-flask-sync-1) match the selected names in them."""
    checked = 0
    for panel in panels(load(SERVICES_DASHBOARD)):
        for target in panel["targets"]:
            expr = target["expr"]
            where = f"{SERVICES_DASHBOARD.relative_to(ROOT)}, panel {panel['title']!r}"
            if "container_" in expr:
                found = CONTAINER_NAME.findall(expr)
                assert found == [CONTAINERS], f'{where}: select containers by name=~"{CONTAINERS}"'
            elif SERVICE_SERIES.search(expr):
                assert SERVICE_FILTER in expr, f"{where}: add {SERVICE_FILTER} to {expr}"
            else:
                continue
            checked += 1
            assert not re.search(r"\b(flask|fastapi|node|go)\b", expr.replace("$service", "")), (
                f"{where}: a fixed service name in {expr}: let the selector choose"
            )
    assert checked


def test_no_other_dashboard_names_a_service() -> None:
    for path in DASHBOARDS:
        if path == SERVICES_DASHBOARD:
            continue
        for panel in panels(load(path)):
            for target in panel["targets"]:
                assert not SERVICE_SERIES.search(target["expr"]), (
                    f"{path.relative_to(ROOT)}, panel {panel['title']!r}: service series belong "
                    f"on {SERVICES_DASHBOARD.name}, under its Service selector"
                )


# --- scripts/compose.sh -------------------------------------------------------------------------


def compose_sh_services() -> list[str]:
    """The lines of compose.sh's lab_services(), its copy of the table."""
    text = COMPOSE_SH.read_text()
    match = re.search(r"^lab_services\(\) \{\n  cat <<'EOF'\n(.*?)^EOF$", text, re.M | re.S)
    assert match, "scripts/compose.sh: lab_services() is missing"
    return match.group(1).splitlines()


def test_compose_sh_lists_every_service() -> None:
    wanted = [f"{s.name} {s.label} {s.port_env}" for s in ROWS]
    lines = "\n".join(wanted)
    assert compose_sh_services() == wanted, (
        f"scripts/compose.sh: lab_services() must print one line per service, in the "
        f"registry's order (name, label, the setting of its published port):\n\n{lines}"
    )
