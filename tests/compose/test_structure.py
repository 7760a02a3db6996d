"""What every service of compose.yaml must have for `make lab` to work the first time."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from asynclab.variants import VARIANTS
from tests.compose import model

SERVICES = model.services()
LONG_RUNNING = model.long_running(SERVICES)
ENV = model.env_file()


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_has_a_healthcheck(name: str) -> None:
    healthcheck = LONG_RUNNING[name].get("healthcheck", {})
    assert healthcheck.get("test"), f"{name} has no healthcheck"
    assert not healthcheck.get("disable"), name
    assert healthcheck["test"][0] in ("CMD", "CMD-SHELL")


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_has_cpu_and_memory_limits(name: str) -> None:
    service = LONG_RUNNING[name]
    limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
    assert service.get("cpus") or limits.get("cpus"), f"{name} has no CPU limit"
    assert service.get("mem_limit") or limits.get("memory"), f"{name} has no memory limit"


def test_every_variant_gets_the_same_budget_from_env() -> None:
    raw = model.raw()["services"]
    for name in VARIANTS:
        assert (raw[name]["cpus"], raw[name]["mem_limit"]) == (
            "${SERVICE_CPUS}",
            "${SERVICE_MEM_LIMIT}",
        ), name
    assert float(ENV["SERVICE_CPUS"]) > 0
    assert re.fullmatch(r"\d+[kmg]", ENV["SERVICE_MEM_LIMIT"])


@pytest.mark.parametrize("name", [n for n, s in SERVICES.items() if "depends_on" in s])
def test_dependencies_wait_until_healthy(name: str) -> None:
    depends_on = SERVICES[name]["depends_on"]
    assert isinstance(depends_on, dict), f"{name}: use the long form with a condition"
    for dependency, rule in depends_on.items():
        assert rule == {"condition": "service_healthy"}, f"{name} -> {dependency}"
        assert "healthcheck" in SERVICES[dependency]


@pytest.mark.parametrize("name", VARIANTS)
def test_each_variant_is_a_service_in_its_own_profile(name: str) -> None:
    assert SERVICES[name]["profiles"] == [name]


def test_only_variants_and_the_bench_generator_are_optional() -> None:
    optional = {name for name, s in SERVICES.items() if s.get("profiles")}
    assert optional == {*VARIANTS, "locust-bench"}
    # One container per bench run (scripts/compose.sh generator), never by `up`.
    assert SERVICES["locust-bench"]["profiles"] == ["bench"]
    assert SERVICES["locust-bench"]["restart"] == "no"


@pytest.mark.parametrize("name", SERVICES)
def test_logs_are_rotated(name: str) -> None:
    # Docker keeps every line otherwise: a long load test would fill the disk.
    logging = SERVICES[name].get("logging", {})
    assert logging.get("driver") == "json-file", name
    assert re.fullmatch(r"\d+[km]", logging["options"]["max-size"]), name
    assert int(logging["options"]["max-file"]) >= 1, name


def test_cadvisor_is_a_release_that_sees_current_engines() -> None:
    # v0.49.1 (gcr.io) sees no container on Docker Engine 29 (google/cadvisor#3749); newer
    # releases are published on ghcr.io only.
    image = ENV["CADVISOR_IMAGE"]
    assert image.startswith("ghcr.io/google/cadvisor:v")
    version = tuple(int(n) for n in image.rsplit(":v", 1)[1].split("."))
    assert version >= (0, 54)


@pytest.mark.parametrize("name", SERVICES)
def test_published_ports_are_bound_to_loopback(name: str) -> None:
    for port in SERVICES[name].get("ports", []):
        assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"


@pytest.mark.parametrize("name", [n for n, s in SERVICES.items() if "image" in s])
def test_images_are_pinned_in_env(name: str) -> None:
    image = SERVICES[name]["image"]
    assert model.raw()["services"][name]["image"].startswith("${"), f"{name}: tag not in .env"
    tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
    assert re.match(r"v?\d+\.\d+", tag), f"{name}: {image} is not pinned to a version"


DOCKERFILES = sorted((model.ROOT / "docker").glob("*.Dockerfile"))
# The images of the Python code: the lab's lock file, installed by uv.
PYTHON_DOCKERFILES = [d for d in DOCKERFILES if "uv sync --frozen" in d.read_text()]
# What each image installs from Debian in its final stage: the service image's nginx
# (flask-sync-nginx), Node and BusyBox (its healthcheck's wget) in the Node image.
FINAL_STAGE_PACKAGES = {"service.Dockerfile": ["nginx"], "node.Dockerfile": ["nodejs", "busybox"]}
# How each image gets its dependencies: from a lock file, or from Debian's packages offline.
DEPENDENCIES = {"node.Dockerfile": "npm ci --omit=dev", "go.Dockerfile": "services/go/build.sh"}


def test_python_base_is_pinned_to_one_version_everywhere() -> None:
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", ENV["PYTHON_IMAGE"])
    assert [d.name for d in PYTHON_DOCKERFILES] == ["locust.Dockerfile", "service.Dockerfile"]
    for dockerfile in PYTHON_DOCKERFILES:
        text = dockerfile.read_text()
        assert f"ARG PYTHON_IMAGE={ENV['PYTHON_IMAGE']}" in text, dockerfile.name
        assert f"ARG UV_VERSION={ENV['UV_VERSION']}" in text, dockerfile.name


def test_debian_bases_are_pinned_to_a_release_in_env_and_the_dockerfiles() -> None:
    # A dated tag of Debian's slim image: the same packages until .env changes it.
    bases = {
        name: value for name, value in ENV.items() if name in ("NODE_BASE_IMAGE", "GO_BUILD_IMAGE")
    }
    assert set(bases) == {"NODE_BASE_IMAGE", "GO_BUILD_IMAGE"}
    for name, image in bases.items():
        assert re.fullmatch(r"debian:(bookworm|trixie)-\d{8}-slim", image), f"{name}={image}"
        users = [d for d in DOCKERFILES if f"ARG {name}=" in d.read_text()]
        assert users, f"no Dockerfile takes {name}"
        for dockerfile in users:
            assert f"ARG {name}={image}\n" in dockerfile.read_text(), dockerfile.name
    # Node 20 or newer (Fastify 5) is Debian 13's; Go 1.19 with the -dev libraries Debian 12's,
    # the versions the native lab builds with.
    assert bases["NODE_BASE_IMAGE"].startswith("debian:trixie-")
    assert bases["GO_BUILD_IMAGE"].startswith("debian:bookworm-")


def builds() -> list[tuple[str, dict[str, Any]]]:
    return [(name, s["build"]) for name, s in SERVICES.items() if "build" in s]


@pytest.mark.parametrize(("name", "build"), builds())
def test_build_context_and_dockerfile_exist(name: str, build: dict[str, Any]) -> None:
    context = model.ROOT / build["context"]
    assert context.is_dir(), name
    assert (context / build["dockerfile"]).is_file(), name


@pytest.mark.parametrize("name", SERVICES)
def test_mounted_files_exist(name: str) -> None:
    for volume in SERVICES[name].get("volumes", []):
        source = volume.split(":")[0]
        if source.startswith("./"):
            assert (model.ROOT / source).exists(), f"{name} mounts {source}, which is missing"


def copied_sources(dockerfile: str) -> list[str]:
    sources = []
    for line in dockerfile.splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
            sources += words[1:-1]
    return sources


def dockerignore() -> tuple[list[str], list[str]]:
    """The paths .dockerignore sends (``!path``), and those it then leaves out again."""
    lines = [line for line in (model.ROOT / ".dockerignore").read_text().splitlines()
             if line and not line.startswith("#")]  # fmt: skip
    allowed = [line[1:].rstrip("/") for line in lines if line.startswith("!")]
    first = next(i for i, line in enumerate(lines) if line.startswith("!"))
    excluded = [line.rstrip("/") for line in lines[first:] if not line.startswith(("!", "**"))]
    return allowed, excluded


def under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + "/")


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_files_the_images_copy_exist_and_are_sent_to_the_builder(dockerfile: Any) -> None:
    allowed, excluded = dockerignore()
    for source in copied_sources(dockerfile.read_text()):
        path = source.rstrip("/")
        assert (model.ROOT / source).exists(), f"{dockerfile.name} copies missing {source}"
        assert any(under(path, a) for a in allowed), f".dockerignore leaves out {source}"
        assert not any(under(path, e) for e in excluded), f".dockerignore leaves out {source}"


def test_what_this_machine_builds_is_not_sent_to_the_builder() -> None:
    # Node's modules and Go's binary, installed and built natively by scripts/install.sh: the
    # images install and build their own, for their own system.
    _, excluded = dockerignore()
    for built in ("services/node/node_modules", "services/go/bin"):
        assert built in excluded, f".dockerignore: add {built}/"


def final_stage_packages(final_stage: str) -> list[str]:
    """What the stage installs with apt-get, by name or through ``PACKAGES="..."``."""
    names: list[str] = []
    for line in re.findall(r"apt-get install ([^\n&\\]*)", final_stage):
        names += [word for word in line.split() if not word.startswith(("-", "$"))]
    for line in re.findall(r'PACKAGES="([^"]*)"', final_stage):
        names += line.split()
    return names


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_images_run_as_a_non_root_user_with_a_healthcheck(dockerfile: Any) -> None:
    text = dockerfile.read_text()
    final_stage = re.sub(r"^#.*\n", "", text.rsplit("\nFROM ", 1)[1], flags=re.M)
    assert re.search(r"^USER 10001:10001$", final_stage, re.M)
    assert "\nHEALTHCHECK " in final_stage
    # Dependencies come from a lock file (or Debian's packages) in the builder stage, never
    # installed here.
    assert "pip install" not in final_stage
    assert "npm " not in final_stage
    assert final_stage_packages(final_stage) == FINAL_STAGE_PACKAGES.get(dockerfile.name, [])
    assert DEPENDENCIES.get(dockerfile.name, "uv sync --frozen") in text.rsplit("\nFROM ", 1)[0]


@pytest.mark.parametrize(
    ("service", "dockerfile"),
    [(s, d) for s in ("node", "go") for d in DOCKERFILES if d.name == f"{s}.Dockerfile"],
)
def test_reference_images_check_health_as_compose_does(service: str, dockerfile: Any) -> None:
    """The image's own HEALTHCHECK (docker run) probes what compose.yaml's does, and runs
    what the image holds: BusyBox's wget, no Python."""
    final_stage = dockerfile.read_text().rsplit("\nFROM ", 1)[1]
    probe = SERVICES[f"{service}-single"]["healthcheck"]["test"][1:]
    assert probe[0] == "/bin/busybox"
    healthcheck = re.search(r"HEALTHCHECK .*?CMD (\[.*?\])$", final_stage, re.S | re.M)
    assert healthcheck is not None
    assert yaml.safe_load(healthcheck[1]) == probe


def test_locust_workers_scale() -> None:
    worker = SERVICES["locust-worker"]
    # Fixed names or host ports would stop `--scale locust-worker=N`.
    assert "container_name" not in worker
    assert "ports" not in worker
    assert model.raw()["services"]["locust-worker"]["scale"] == "${LOCUST_WORKERS}"
    assert int(ENV["LOCUST_WORKERS"]) >= 1
    assert "--worker" in worker["command"]
    assert "locust-master" in worker["command"]
    assert "--class-picker" in SERVICES["locust-master"]["command"]
