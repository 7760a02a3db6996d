"""What every service of compose.yaml must have for `make lab` to work the first time."""

from __future__ import annotations

import re
from typing import Any

import pytest

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


def test_python_base_is_pinned_to_one_version_everywhere() -> None:
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", ENV["PYTHON_IMAGE"])
    for dockerfile in (model.ROOT / "docker").glob("*.Dockerfile"):
        text = dockerfile.read_text()
        assert f"ARG PYTHON_IMAGE={ENV['PYTHON_IMAGE']}" in text, dockerfile.name
        assert f"ARG UV_VERSION={ENV['UV_VERSION']}" in text, dockerfile.name


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


@pytest.mark.parametrize("dockerfile", sorted((model.ROOT / "docker").glob("*.Dockerfile")))
def test_files_the_images_copy_exist_and_are_sent_to_the_builder(dockerfile: Any) -> None:
    allowed = [
        line[1:].rstrip("/")
        for line in (model.ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    for source in copied_sources(dockerfile.read_text()):
        assert (model.ROOT / source).exists(), f"{dockerfile.name} copies missing {source}"
        assert source.rstrip("/") in allowed, f".dockerignore leaves out {source}"


def test_images_run_as_a_non_root_user_with_a_healthcheck() -> None:
    for dockerfile in (model.ROOT / "docker").glob("*.Dockerfile"):
        final_stage = dockerfile.read_text().rsplit("\nFROM ", 1)[1]
        assert re.search(r"^USER 10001:10001$", final_stage, re.M), dockerfile.name
        assert "\nHEALTHCHECK " in final_stage, dockerfile.name
        # Dependencies come from the lock file in the builder stage, never installed here.
        assert "pip install" not in final_stage
        # System packages: only the service image's nginx (flask-sync-nginx), from Debian.
        installed = re.findall(r"apt-get install ([^\n&\\]*)", final_stage)
        assert all(line.split()[-1] == "nginx" for line in installed), installed
        assert installed == [] or dockerfile.name == "service.Dockerfile"
        assert "uv sync --frozen" in dockerfile.read_text()


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
