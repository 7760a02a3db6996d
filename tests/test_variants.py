"""The variant table: the concurrency slots that every ceiling in the report is derived from."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from asynclab.settings import LabSettings
from asynclab.variants import VARIANTS, get_variant

SETTINGS = LabSettings(workers=3, threads=8, db_pool_size=30, http_pool_size=90, def_threads=40)


@pytest.mark.parametrize(
    ("name", "processes", "request_slots", "db_slots", "blocking_slots"),
    [
        ("flask-sync", 3, 3, 3, 3),
        ("flask-gthread", 3, 24, 24, 24),
        ("flask-gevent", 3, 300, 30, 300),
        ("flask-sync-nginx", 3, 3, 3, 3),
        ("fastapi-async", 1, None, 30, 1),
        ("fastapi-workers", 3, None, 30, 3),
        ("fastapi-def", 1, 40, 30, 40),
        ("flask-granian", 3, 24, 24, 24),
        # One event loop: a request for every connection granian takes (its backpressure).
        ("fastapi-granian", 1, 2048, 30, 1),
        # The reference services: one event loop a process (a blocking sleep holds it, as in
        # async Python), or a goroutine a request (a sleep holds nothing).
        ("node-single", 1, None, 30, 1),
        ("node-cluster", 3, None, 30, 3),
        ("go-single", 1, None, 30, None),
        ("go-multi", 1, None, 30, None),
    ],
)
def test_slots(
    name: str, processes: int, request_slots: int | None, db_slots: int, blocking_slots: int | None
) -> None:
    variant = get_variant(name)
    assert variant.processes(SETTINGS) == processes
    assert variant.request_slots(SETTINGS) == request_slots
    assert variant.db_slots(SETTINGS) == db_slots
    assert variant.blocking_slots(SETTINGS) == blocking_slots


def test_a_pool_never_exceeds_what_a_process_can_use() -> None:
    # A sync worker serves one request at a time: a second connection would only sit idle.
    assert get_variant("flask-sync").db_pool_per_process(SETTINGS) == 1
    assert get_variant("flask-gthread").db_pool_per_process(SETTINGS) == 8


def test_environment_passes_the_budget_to_the_process() -> None:
    env = get_variant("fastapi-workers").environment(SETTINGS, "postgresql://db", "http://up", "/m")
    assert env["SERVICE_DB_POOL_SIZE"] == "10"
    assert env["GUNICORN_WORKERS"] == "3"
    assert env["GUNICORN_WORKER_CLASS"] == "services.fastapi.worker.Worker"
    assert env["SERVICE_HANDLERS"] == "async"


def test_every_variant_has_a_command_on_loopback() -> None:
    for variant in VARIANTS.values():
        argv = variant.command(SETTINGS, "python", 8001)
        assert "127.0.0.1" in " ".join(argv)


def test_unknown_variant_names_the_choices() -> None:
    with pytest.raises(ValueError, match="flask-sync"):
        get_variant("django")


def test_a_variant_of_the_other_framework_is_refused() -> None:
    assert get_variant("flask-gevent", "flask").name == "flask-gevent"
    with pytest.raises(ValueError, match="fastapi variant, not flask"):
        get_variant("fastapi-def", "flask")
    with pytest.raises(ValueError, match="fastapi-async, fastapi-workers, fastapi-def"):
        get_variant("fastapi-sync", "fastapi")


def test_flask_sync_nginx_is_flask_sync_behind_nginx() -> None:
    """Same gunicorn, same environment and budget: only nginx in front differs."""
    sync, proxied = get_variant("flask-sync"), get_variant("flask-sync-nginx")
    argv = proxied.command(SETTINGS, "python", 8001)
    assert argv[:6] == ["python", "-m", "services.proxy", "--bind", "127.0.0.1:8001", "--"]
    bare = sync.command(SETTINGS, "python", 8001)
    assert argv[6:] == [arg for arg in bare if arg not in ("--bind", "127.0.0.1:8001")]
    env = proxied.environment(SETTINGS, "db", "up", "/m")
    assert env.pop("SERVICE_VARIANT") == "flask-sync-nginx"
    assert env == {
        k: v
        for k, v in sync.environment(SETTINGS, "db", "up", "/m").items()
        if k != "SERVICE_VARIANT"
    }
    assert proxied.config(SETTINGS)["proxy"] == "nginx"


# Each granian variant and the sibling whose budget it has (README, variants table).
GRANIAN_SIBLINGS = {"flask-granian": "flask-gthread", "fastapi-granian": "fastapi-async"}


@pytest.mark.parametrize(("name", "sibling"), GRANIAN_SIBLINGS.items())
def test_granian_has_its_siblings_budget(name: str, sibling: str) -> None:
    """Only the server differs: processes, handler threads, pools and slots are the sibling's."""
    granian, other = get_variant(name), get_variant(sibling)
    for figure in ("processes", "handler_threads", "db_pool_per_process", "http_pool_per_process",
                   "db_slots", "upstream_slots", "blocking_slots"):  # fmt: skip
        assert getattr(granian, figure)(SETTINGS) == getattr(other, figure)(SETTINGS), figure
    assert granian.handlers == other.handlers
    mine = granian.environment(SETTINGS, "db", "up", "/m")
    theirs = other.environment(SETTINGS, "db", "up", "/m")
    assert mine.pop("SERVICE_VARIANT") == name
    assert mine == {
        k: v for k, v in theirs.items() if k != "SERVICE_VARIANT" and not k.startswith("GUNICORN_")
    }


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_flask_granian_runs_gthreads_workers_threads_and_connections() -> None:
    argv = get_variant("flask-granian").command(SETTINGS, "python", 8001)
    env = get_variant("flask-gthread").environment(SETTINGS, "db", "up", "/m")
    assert argv[:3] == ["python", "-m", "granian"]
    assert option(argv, "--interface") == "wsgi"
    assert option(argv, "--workers") == env["GUNICORN_WORKERS"] == "3"
    assert option(argv, "--blocking-threads") == env["GUNICORN_THREADS"] == "8"
    assert option(argv, "--backpressure") == env["GUNICORN_WORKER_CONNECTIONS"]
    assert option(argv, "--factory") == "services.granian_apps:wsgi_app"
    assert "--respawn-failed-workers" in argv  # as gunicorn's arbiter replaces a dead worker


def test_fastapi_granian_is_one_uvloop_process_like_uvicorns() -> None:
    granian = get_variant("fastapi-granian").command(SETTINGS, "python", 8002)
    uvicorn = get_variant("fastapi-async").command(SETTINGS, "python", 8002)
    assert option(granian, "--interface") == "asgi"
    assert option(granian, "--workers") == "1"
    assert option(granian, "--loop") == option(uvicorn, "--loop") == "uvloop"
    assert option(granian, "--factory") == "services.granian_apps:asgi_app"
    assert "--respawn-failed-workers" not in granian  # a lone uvicorn is not replaced either
    assert option(granian, "--workers-kill-timeout") == option(
        uvicorn, "--timeout-graceful-shutdown"
    )


@pytest.mark.parametrize("name", GRANIAN_SIBLINGS)
def test_granian_speaks_http1_only_with_a_head_deadline(name: str) -> None:
    argv = get_variant(name).command(SETTINGS, "python", 8001, host="0.0.0.0")
    assert (option(argv, "--host"), option(argv, "--port")) == ("0.0.0.0", "8001")
    assert option(argv, "--http") == "1"
    assert "--no-ws" in argv
    assert "--no-access-log" in argv
    # 5 s for a request head, in milliseconds: uvicorn's and gevent's deadline.
    assert option(argv, "--http1-header-read-timeout") == "5000"
    assert option(argv, "--backlog") == "2048"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("flask-sync", "3 sync workers"),
        ("flask-gthread", "3 workers \u00d7 8 threads"),
        ("flask-granian", "3 workers \u00d7 8 threads"),
        ("flask-gevent", "3 workers \u00d7 100 greenlets"),
        ("fastapi-def", "1 process \u00d7 40 threads"),
        ("fastapi-async", "unbounded"),
        ("fastapi-workers", "unbounded"),
        ("fastapi-granian", "1 process \u00d7 2048 connections"),
    ],
)
def test_request_slots_say_what_they_are(name: str, text: str) -> None:
    assert get_variant(name).request_slots_text(SETTINGS) == text


def test_the_readme_table_lists_every_variant() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Service variants and the CPU budget", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"^\| `([a-z-]+)` \|", section, re.M) == list(VARIANTS)


def test_reference_services_get_their_budget() -> None:
    """node-cluster splits the service's pools over its workers as gunicorn's variants do; Go
    runs one OS thread of Go code (go-single) or one per service CPU (go-multi)."""
    env = get_variant("node-cluster").environment(SETTINGS, "postgresql://db", "http://up", "/m")
    assert (env["SERVICE_WORKERS"], env["SERVICE_DB_POOL_SIZE"]) == ("3", "10")
    single = get_variant("node-single").environment(SETTINGS, "postgresql://db", "http://up", "/m")
    assert (single["SERVICE_WORKERS"], single["SERVICE_DB_POOL_SIZE"]) == ("1", "30")
    go = get_variant("go-single").environment(SETTINGS, "postgresql://db", "http://up", "/m")
    assert (go["GOMAXPROCS"], go["SERVICE_DB_POOL_SIZE"]) == ("1", "30")
    two = SETTINGS.model_copy(update={"service_cpus": "0-1", "pin_cpus": False})
    assert get_variant("go-multi").environment(two, "", "", "")["GOMAXPROCS"] == str(
        len(os.sched_getaffinity(0))
    )


def test_a_reference_service_that_is_not_built_is_refused(tmp_path: Path) -> None:
    """The lab names what is missing and how to get it, instead of a process that dies."""
    assert "scripts/install.sh" in (get_variant("go-single").missing(tmp_path) or "")
    assert "scripts/install.sh" in (get_variant("node-single").missing(tmp_path) or "node")
