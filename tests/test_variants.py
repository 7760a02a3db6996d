"""The variant table: the concurrency slots that every ceiling in the report is derived from."""

from __future__ import annotations

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
    ],
)
def test_slots(
    name: str, processes: int, request_slots: int | None, db_slots: int, blocking_slots: int
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
