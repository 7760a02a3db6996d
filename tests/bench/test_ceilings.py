"""Little's-law and CPU ceilings follow from the variant table and the settings."""

from __future__ import annotations

import pytest

from asynclab.bench.ceilings import binding, cpu_ceiling, no_ceiling_reason, slot_ceiling
from asynclab.bench.scenarios import SCENARIOS
from asynclab.settings import LabSettings
from asynclab.variants import VARIANTS

S = LabSettings(workers=3, threads=8, db_pool_size=16, def_threads=40, http_pool_size=100)


@pytest.mark.parametrize(
    ("scenario", "variant", "users", "rps"),
    [
        ("io_db", "flask-sync", 64, 60.0),  # 3 workers x 1 connection / 0.05 s
        ("io_db", "fastapi-async", 64, 320.0),  # 16 pooled connections / 0.05 s
        ("io_db", "fastapi-async", 8, 160.0),  # fewer users than connections
        ("io_db", "flask-gthread", 256, 300.0),  # 3 workers x 5 connections
        ("pitfall", "fastapi-async", 32, 20.0),  # one event loop, blocked
        ("pitfall", "fastapi-workers", 32, 60.0),  # three event loops
        ("pitfall", "flask-sync", 32, 60.0),
        ("pitfall", "fastapi-def", 32, 640.0),  # 40 threads, but only 32 users
        ("io_upstream", "fastapi-async", 256, 2000.0),  # 100 HTTP connections
        ("fanout", "fastapi-async", 256, 400.0),  # 100 connections / 5 calls, one wait
        ("fanout", "fastapi-workers", 256, 396.0),  # 3 x 33 connections / (5 calls x 0.05 s)
        ("fanout", "fastapi-workers", 8, 160.0),  # fewer users than the pool can serve
        ("fanout", "flask-sync", 256, 12.0),  # 3 workers, 5 sequential waits
    ],
)
def test_slot_ceiling(scenario: str, variant: str, users: int, rps: float) -> None:
    ceiling = slot_ceiling(SCENARIOS[scenario], VARIANTS[variant], S, users)
    assert ceiling is not None
    assert ceiling.rps == pytest.approx(rps)
    assert ceiling.kind == "slots"
    assert f"= {rps:,.0f} rps" in ceiling.note


def test_slot_ceiling_note_explains_the_numbers() -> None:
    ceiling = slot_ceiling(SCENARIOS["io_db"], VARIANTS["flask-sync"], S, 64)
    assert ceiling is not None
    assert ceiling.note == "3 workers \u00d7 1 connection ÷ 0.05 s = 60 rps"


@pytest.mark.parametrize("scenario", ["cpu_python", "json", "mixed"])
def test_no_slot_ceiling_without_a_wait(scenario: str) -> None:
    assert slot_ceiling(SCENARIOS[scenario], VARIANTS["flask-sync"], S, 64) is None


def test_multiprocess_fanout_divides_before_rounding() -> None:
    ceiling = slot_ceiling(SCENARIOS["fanout"], VARIANTS["fastapi-workers"], S, 256)
    assert ceiling is not None
    # 99 / 5 / 0.05 = 396: the note's arithmetic must give the number it states.
    assert ceiling.note == "99 connections ÷ 5 calls ÷ 0.05 s = 396 rps"


@pytest.mark.parametrize("scenario", ["db", "queries", "updates", "fortunes"])
def test_database_round_trips_have_no_ceiling_and_say_why(scenario: str) -> None:
    for variant in ("flask-sync", "fastapi-async"):
        assert slot_ceiling(SCENARIOS[scenario], VARIANTS[variant], S, 64) is None
        assert cpu_ceiling(SCENARIOS[scenario], VARIANTS[variant], S, 0.002, 1) is None
    reason = no_ceiling_reason(SCENARIOS[scenario])
    assert reason is not None
    assert "Postgres round trips" in reason


def test_cpu_ceiling_is_cores_over_cpu_time() -> None:
    ceiling = cpu_ceiling(SCENARIOS["cpu_python"], VARIANTS["flask-sync"], S, 0.008, 1)
    assert ceiling is not None
    assert ceiling.rps == pytest.approx(125.0)
    assert ceiling.note == "measured CPU capacity: 1 core ÷ 8.00 ms CPU per request = 125 rps"


def test_gil_bound_single_process_uses_one_core() -> None:
    one = cpu_ceiling(SCENARIOS["cpu_python"], VARIANTS["fastapi-async"], S, 0.01, 2)
    many = cpu_ceiling(SCENARIOS["cpu_python"], VARIANTS["flask-sync"], S, 0.01, 2)
    native = cpu_ceiling(SCENARIOS["cpu_native"], VARIANTS["fastapi-def"], S, 0.01, 2)
    rps = [c.rps if c else None for c in (one, many, native)]
    assert rps == [pytest.approx(100), pytest.approx(200), pytest.approx(200)]


@pytest.mark.parametrize(
    ("variant", "cores"),
    [("flask-gthread", 2), ("fastapi-def", 2), ("flask-gevent", 1), ("fastapi-async", 1),
     ("flask-granian", 2), ("fastapi-granian", 1)],
)  # fmt: skip
def test_gil_releasing_work_scales_with_os_threads_only(variant: str, cores: int) -> None:
    # One worker: only OS threads can run PBKDF2 side by side; greenlets share one thread.
    one_worker = S.model_copy(update={"workers": 1})
    ceiling = cpu_ceiling(SCENARIOS["cpu_native"], VARIANTS[variant], one_worker, 0.01, 2)
    assert ceiling is not None
    assert ceiling.rps == pytest.approx(cores * 100)


def test_cpu_ceiling_needs_a_measurement() -> None:
    assert cpu_ceiling(SCENARIOS["cpu_python"], VARIANTS["flask-sync"], S, None, 1) is None
    assert cpu_ceiling(SCENARIOS["cpu_python"], VARIANTS["flask-sync"], S, 0.0, 1) is None


def test_the_lowest_ceiling_binds() -> None:
    slots = slot_ceiling(SCENARIOS["io_db"], VARIANTS["fastapi-async"], S, 64)
    cpu = cpu_ceiling(SCENARIOS["io_db"], VARIANTS["fastapi-async"], S, 0.005, 1)
    assert binding(slots, cpu) is cpu
    assert binding(slots, None) is slots
    assert binding(None, None) is None


WAITING = [name for name, s in SCENARIOS.items() if s.bound in ("db", "upstream", "blocking",
                                                                "fanout")]  # fmt: skip
GRANIAN_SIBLINGS = [("flask-granian", "flask-gthread"), ("fastapi-granian", "fastapi-async")]


@pytest.mark.parametrize(("granian", "sibling"), GRANIAN_SIBLINGS)
@pytest.mark.parametrize("users", [2, 64, 256])
@pytest.mark.parametrize("scenario", WAITING)
def test_granian_has_its_siblings_slot_ceilings(
    scenario: str, users: int, granian: str, sibling: str
) -> None:
    """Same budget, same Little's-law ceiling in the same words: only the server differs, and
    that shows in the measured figures, never in the prediction."""
    mine = slot_ceiling(SCENARIOS[scenario], VARIANTS[granian], S, users)
    assert mine == slot_ceiling(SCENARIOS[scenario], VARIANTS[sibling], S, users)


@pytest.mark.parametrize(("granian", "sibling"), GRANIAN_SIBLINGS)
@pytest.mark.parametrize("cpus", [1, 2])
@pytest.mark.parametrize("scenario", ["cpu_python", "cpu_native"])
def test_granian_uses_as_many_cores_as_its_sibling(
    scenario: str, cpus: int, granian: str, sibling: str
) -> None:
    mine = cpu_ceiling(SCENARIOS[scenario], VARIANTS[granian], S, 0.01, cpus)
    assert mine == cpu_ceiling(SCENARIOS[scenario], VARIANTS[sibling], S, 0.01, cpus)


def test_granian_ceiling_note_names_its_workers() -> None:
    ceiling = slot_ceiling(SCENARIOS["io_db"], VARIANTS["flask-granian"], S, 256)
    assert ceiling is not None
    assert ceiling.note == "3 workers \u00d7 5 connections ÷ 0.05 s = 300 rps"
