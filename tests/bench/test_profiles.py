"""Profiles expand into runs; command-line overrides change them."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from pydantic import BaseModel

from asynclab.bench.profiles import PROFILES, customise, get_profile
from asynclab.bench.scenarios import FANOUT_CALLS, SCENARIOS, WAIT_MS
from asynclab.bench.verdicts import PARITY_LESSONS, SERVER_LESSONS
from asynclab.variants import VARIANTS
from services.common.errors import parse_params, within_wait_budget
from services.common.models import Fanout, Wait, WorkNative, WorkPython


def test_quick_shows_the_three_lessons_with_two_variants() -> None:
    quick = PROFILES["quick"]
    assert {c.scenario for c in quick.cells} == {"cpu_python", "io_db", "pitfall"}
    assert set(quick.variants) == {"flask-sync", "fastapi-async"}
    runs = quick.runs()
    assert [r.tool for r in runs].count("wrk") == 4
    # Both variants are served side by side, so the bench alternates between them.
    assert [r.variant for r in runs[:4]] == ["flask-sync", "fastapi-async"] * 2


def test_full_covers_every_scenario_and_variant_three_times() -> None:
    full = PROFILES["full"]
    assert {c.scenario for c in full.cells} == set(SCENARIOS)
    assert set(full.variants) == set(VARIANTS)
    assert full.repetitions >= 3


def test_pairs_keep_one_variant_per_framework() -> None:
    pairs = PROFILES["full"].pairs()
    assert all(len({VARIANTS[v].framework for v in pair}) == len(pair) for pair in pairs)
    assert sorted(v for pair in pairs for v in pair) == sorted(VARIANTS)


def test_granian_variants_of_both_frameworks_are_measured_side_by_side() -> None:
    """Same server, two frameworks: one pair, so whatever slows the machine hits both alike."""
    for name in ("full", "servers"):
        pairs = PROFILES[name].pairs()
        assert ("flask-granian", "fastapi-granian") in pairs, name
    # The other pairs keep their order; the reference services' default variants join the
    # Python services' defaults (the parity lesson compares fastapi-async with them).
    assert PROFILES["full"].pairs()[1:4] == [
        ("flask-sync", "fastapi-async", "node-single", "go-single"),
        ("flask-gthread", "fastapi-workers", "node-cluster", "go-multi"),
        ("flask-gevent", "fastapi-def"),
    ]


def test_parity_profile_holds_every_parity_lesson_on_both_generators() -> None:
    parity = PROFILES["parity"]
    planned = {(c.scenario, v) for c in parity.cells for v in parity.variants}
    for lesson in PARITY_LESSONS:
        assert (lesson.scenario, lesson.challenger) in planned, lesson.key
        assert (lesson.scenario, lesson.baseline) in planned, lesson.key
    # FastAPI and the references it is compared with are measured side by side.
    assert parity.pairs() == [("flask-sync", "fastapi-async", "node-single", "go-single"),
                              ("flask-gevent",)]  # fmt: skip
    # Where Node or Go may outrun one Locust process, wrk measures every repetition as well.
    tools = {c.scenario: c.tools for c in parity.cells}
    assert tools == {"json": ("locust", "wrk"), "db": ("locust", "wrk"),
                     "queries": ("locust", "wrk"), "io_db": ("locust",),
                     "fanout": ("locust",)}  # fmt: skip
    runs = parity.runs()
    wrk = [r for r in runs if r.tool == "wrk"]
    assert len(wrk) == 3 * len(parity.variants) * parity.repetitions
    assert len({r.key for r in runs}) == len(runs)
    # The full profile measures the lesson too, with the same generators.
    # (io_db has a second cell there: the open-loop lesson's, whose levels are loads.)
    full = {c.scenario: c for c in PROFILES["full"].cells if not c.open_loop}
    for cell in parity.cells:
        assert cell.tools == full[cell.scenario].tools
        assert set(cell.users) <= set(full[cell.scenario].users)
    assert {lesson.baseline for lesson in PARITY_LESSONS} <= set(PROFILES["full"].variants)


def test_without_wrk_every_cell_keeps_locust() -> None:
    """Compose mode or no wrk: Locust alone, and its outrun runs are flagged (matrix.Bench)."""
    parity = PROFILES["parity"].without_tool("wrk")
    assert {c.tools for c in parity.cells} == {("locust",)}
    assert not [r for r in parity.runs() if r.tool == "wrk"]
    assert not PROFILES["quick"].without_tool("wrk").wrk_check


def test_reference_variants_alone_make_their_own_pairs() -> None:
    only = customise(get_profile("parity"), variants=["go-single", "node-cluster", "node-single"])
    assert only.pairs() == [("node-single", "go-single"), ("node-cluster",)]


def test_servers_profile_holds_every_server_lesson() -> None:
    servers = PROFILES["servers"]
    planned = {(c.scenario, v) for c in servers.cells for v in servers.variants}
    for lesson in SERVER_LESSONS:
        assert (lesson.scenario, lesson.challenger) in planned, lesson.key
        assert (lesson.scenario, lesson.baseline) in planned, lesson.key
    full = PROFILES["full"]
    assert {lesson.scenario for lesson in SERVER_LESSONS} <= {c.scenario for c in full.cells}


def test_overrides() -> None:
    p = customise(get_profile("quick"), scenarios=["io_db", "json"], users=[2, 4],
                  variants=["fastapi-def"], repetitions=2, duration_s=3, warmup_s=1,
                  wrk_check=False)  # fmt: skip
    assert [(c.scenario, c.users) for c in p.cells] == [("io_db", (2, 4)), ("json", (2, 4))]
    assert (p.variants, p.repetitions, p.duration_s, p.warmup_s) == (("fastapi-def",), 2, 3, 1)
    assert len(p.runs()) == 2 * 2 * 2


@pytest.mark.parametrize("bad", [{"scenarios": ["nope"]}, {"variants": ["flask-nope"]}])
def test_unknown_names_are_refused(bad: dict[str, list[str]]) -> None:
    with pytest.raises(ValueError, match="unknown"):
        customise(get_profile("quick"), **bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("users", "ceiling", "expected"),
    [(256, 12.0, 22.0), (8, 60.0, 5.0), (64, None, 5.0), (10_000, 1.0, 60.0)],
)
def test_warmup_lasts_one_queue_turnover(
    users: int, ceiling: float | None, expected: float
) -> None:
    """Closed loop: a request waits users ÷ throughput, so the warm-up must last that long."""
    assert PROFILES["full"].warmup_for(users, ceiling) == pytest.approx(expected)


def test_quick_warmups_already_cover_their_turnover() -> None:
    quick = PROFILES["quick"]
    # io_db at 64 users on flask-sync (60 rps), pitfall at 32 on fastapi-async (20 rps).
    assert quick.warmup_for(64, 60.0) == quick.warmup_for(32, 20.0) == quick.warmup_s


def test_every_scenario_asks_what_the_services_accept() -> None:
    """The bench's requests pass the services' own rules, the /fanout time budget included: no
    scenario measures 422s. (Locust's defaults are these constants: locust_support.DEFAULTS.)"""
    models: dict[str, type[BaseModel]] = {
        "/cpu/python": WorkPython, "/cpu/native": WorkNative, "/io/db": Wait,
        "/io/upstream": Wait, "/io/sleep": Wait, "/pitfall/blocking": Wait, "/fanout": Fanout,
    }  # fmt: skip
    for scenario in SCENARIOS.values():
        route, _, query = scenario.path.partition("?")
        model = models.get(route)
        if model is None:
            continue
        params = parse_params(model, dict(parse_qsl(query)))
        if isinstance(params, Fanout):
            within_wait_budget(params)
    within_wait_budget(Fanout(calls=FANOUT_CALLS, ms=WAIT_MS))
