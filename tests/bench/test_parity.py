"""The parity lesson on crafted rows: FastAPI ÷ Node and ÷ Go, a tie within ±15%, its spread, the
generator that measured it, and the ceiling that explains it (read from the same cells)."""

from __future__ import annotations

from typing import Any

import pytest

from asynclab.bench.parity import explain, full_text, spread_note, tally
from asynclab.bench.verdicts import ALL_LESSONS, PARITY_LESSONS, TIMES, Verdict, verdicts

TITLES = {"json": "TechEmpower json", "db": "TechEmpower db", "io_db": "I/O wait"}


def row(scenario: str, variant: str, rps: float, rep: int = 1, tool: str = "locust",
        **extra: Any) -> dict[str, Any]:  # fmt: skip
    return {"scenario": scenario, "variant": variant, "users": 64, "repetition": rep,
            "tool": tool, "rps": rps, "p50_ms": 10.0, "p99_ms": 20.0, "flags": [],
            "ceiling_rps": None, "ceiling_note": None, **extra}  # fmt: skip


def reps(scenario: str, variant: str, values: list[float], **extra: Any) -> list[dict[str, Any]]:
    return [row(scenario, variant, r, i, **extra) for i, r in enumerate(values, 1)]


def judge(rows: list[dict[str, Any]]) -> dict[str, Verdict]:
    return {v.lesson.key: v for v in verdicts(rows, TITLES, PARITY_LESSONS)}


def test_the_lesson_compares_fastapi_with_node_and_go_on_five_routes() -> None:
    assert {(x.challenger, x.baseline) for x in PARITY_LESSONS} == {
        ("fastapi-async", "node-single"),
        ("fastapi-async", "go-single"),
    }
    assert {x.scenario for x in PARITY_LESSONS} == {"json", "db", "queries", "io_db", "fanout"}
    assert {x.key for x in PARITY_LESSONS} <= {x.key for x in ALL_LESSONS}


@pytest.mark.parametrize(
    ("fastapi", "node", "outcome", "words"),
    [
        ([1000, 1020, 980], [990, 1000, 1010], "tie", "a tie"),  # x1.00
        ([1000, 1020, 980], [3000, 3100, 2900], "loss", "FastAPI loses"),  # x0.33
        ([1300, 1320, 1280], [1000, 1010, 990], "win", "FastAPI wins"),  # x1.30
    ],
)
def test_tie_slower_and_faster_with_their_spread(
    fastapi: list[float], node: list[float], outcome: str, words: str
) -> None:
    rows = reps("db", "fastapi-async", fastapi) + reps("db", "node-single", node)
    v = judge(rows)["parity-node-db"]
    assert v.outcome == outcome
    assert v.ratio == pytest.approx(sorted(fastapi)[1] / sorted(node)[1])
    # The spread: the lowest FastAPI run against the highest Node run, and the other way.
    assert (v.ratio_low, v.ratio_high) == (pytest.approx(min(fastapi) / max(node)),
                                           pytest.approx(max(fastapi) / min(node)))  # fmt: skip
    text = v.text()
    spread = f"{TIMES}{v.ratio:.2f} (range {TIMES}{v.ratio_low:.2f} to {TIMES}{v.ratio_high:.2f})"
    assert spread in text
    assert f": {words}" in text
    # A /db loss is the hypothesis; anything else is named as unexpected, never hidden.
    assert ("(expected FastAPI loses)" in text) == (outcome != "loss")


def test_a_range_across_the_tie_boundary_says_so() -> None:
    # Medians x0.90 (a tie), but one FastAPI run at 800 against a Node run at 1,050: x0.76.
    rows = reps("db", "fastapi-async", [800, 900, 950]) + reps(
        "db", "node-single", [980, 1000, 1050]
    )
    v = judge(rows)["parity-node-db"]
    assert v.outcome == "tie"
    assert spread_note(v) == (
        f"The runs' range ({TIMES}0.76 to {TIMES}0.97) spans FastAPI loses and a tie: "
        "more repetitions would settle it"
    )
    single = reps("db", "fastapi-async", [900]) + reps("db", "node-single", [1000])
    assert spread_note(judge(single)["parity-node-db"]) is None  # one run each: no range


def test_where_locust_was_outrun_the_verdict_is_wrks() -> None:
    """Go answers /json faster than one Locust process asks: every Locust run of go-single is
    flagged, so the verdict compares wrk's cells of both sides, and says why."""
    rows = [
        *reps("json", "fastapi-async", [4000, 4100, 3900]),
        *reps("json", "go-single", [5200, 5300, 5250], flags=["generator_cpu"]),
        *reps("json", "fastapi-async", [4300, 4400, 4200], tool="wrk"),
        *reps("json", "go-single", [16000, 17000, 16500], tool="wrk"),
        *reps("json", "node-single", [4500, 4600, 4400]),  # Locust kept up with Node:
        *reps("json", "node-single", [4800, 4900, 4700], tool="wrk"),  # wrk agrees within 10%
    ]
    found = judge(rows)
    go = found["parity-go-json"]
    assert (go.tool, go.judged, go.outcome) == ("wrk", True, "loss")
    assert go.ratio == pytest.approx(4300 / 16500)
    # Both signs are named: Locust's CPU flag, and wrk's figure on the same cell.
    outrun = (
        "go-single at 64 users: generator above 90% CPU in 3 runs, 5,250 rps where wrk served "
        "16,500, 68% less"
    )
    assert go.outrun == outrun
    assert go.text().startswith("TechEmpower json, 64 users, measured with wrk: ")
    assert f"Locust was outrun ({outrun}): wrk measured both sides." in go.text()
    assert go.to_json()["generator"] == "wrk"
    # Where Locust was not outrun, Locust's cells decide, whatever wrk measured.
    node = found["parity-node-json"]
    assert (node.tool, node.outrun) == ("locust", None)
    assert node.ratio == pytest.approx(4000 / 4500)
    assert node.to_json()["generator"] == "locust"


def test_one_outrun_run_is_enough_to_prefer_wrk() -> None:
    rows = [
        *reps("json", "fastapi-async", [4000, 4100, 3900]),
        row("json", "go-single", 6000, 1),
        row("json", "go-single", 6100, 2, flags=["generator_bound"]),
        *reps("json", "fastapi-async", [4300, 4200, 4400], tool="wrk"),
        *reps("json", "go-single", [16000, 16500], tool="wrk"),
    ]
    go = judge(rows)["parity-go-json"]
    assert go.tool == "wrk"
    assert "above 80% of the generator's ceiling" in (go.outrun or "")


def test_a_one_run_wrk_check_does_not_stand_for_three_repetitions() -> None:
    """The quick profile's --wrk-check: one wrk run beside Locust's repetitions compares the
    generators (the report's Locust against wrk), it does not replace the verdict's spread."""
    rows = [
        *reps("io_db", "fastapi-async", [500, 520, 510]),
        *reps("io_db", "go-single", [400, 410, 405]),
        *reps("io_db", "fastapi-async", [580], tool="wrk"),
        *reps("io_db", "go-single", [585], tool="wrk"),
    ]
    v = judge(rows)["parity-go-io_db"]
    assert (v.tool, v.challenger.rps.n) == ("locust", 3)


def test_without_wrk_an_outrun_cell_is_flagged_and_not_judged() -> None:
    rows = [
        *reps("json", "fastapi-async", [4000, 4100, 3900]),
        *reps("json", "go-single", [5200, 5300], flags=["generator_cpu"]),
    ]
    go = judge(rows)["parity-go-json"]
    assert (go.tool, go.judged, go.outcome) == ("locust", False, "loss")
    assert "not judged: every run of go-single was flagged (generator above 90% CPU" in go.text()
    assert full_text(go) == go.text()  # nothing to explain from figures that are Locust's own


def test_a_flagged_wrk_cell_does_not_replace_locust() -> None:
    rows = [
        *reps("json", "fastapi-async", [4000]),
        *reps("json", "go-single", [5200], flags=["generator_cpu"]),
        *reps("json", "fastapi-async", [4300], tool="wrk"),
        *reps("json", "go-single", [16000], tool="wrk", flags=["errors"]),
    ]
    go = judge(rows)["parity-go-json"]
    assert (go.tool, go.judged) == ("locust", False)


def cpu_rows(scenario: str, **sides: tuple[float, float, float | None]) -> list[dict[str, Any]]:
    """One run per variant: (rps, CPU ms per request, infra CPU) each."""
    return [
        row(scenario, v.replace("_", "-"), rps, service_cpu_ms_per_request=ms, service_cores=1,
            infra_cpu=infra)
        for v, (rps, ms, infra) in sides.items()
    ]  # fmt: skip


def test_little_law_explains_the_io_tie() -> None:
    rows = [row("io_db", "fastapi-async", 585, slot_ceiling_rps=600, ceiling_rps=600,
                service_cpu_ms_per_request=0.5, service_cores=1),
            row("io_db", "go-single", 594, slot_ceiling_rps=600, ceiling_rps=600,
                service_cpu_ms_per_request=0.1, service_cores=1)]  # fmt: skip
    v = judge(rows)["parity-go-io_db"]
    assert (v.outcome, v.as_expected) == ("tie", True)
    e = explain(v)
    assert e.kind == "pool"
    assert e.text == (
        "Little's law: both ran at their pool's ceiling (fastapi-async 98% of 600 rps, go-single "
        "99% of 600 rps); the same ceiling: the pool sets the pace, not the framework"
    )
    assert full_text(v).endswith(e.text + ".")


def test_cpu_per_request_explains_a_cpu_bound_ratio() -> None:
    # 3,000 rps x 0.32 ms = 0.96 of a core; 9,500 x 0.1 ms = 0.95: both ran out of CPU.
    rows = cpu_rows("json", fastapi_async=(3000, 0.32, None), node_single=(9500, 0.1, None))
    v = judge(rows)["parity-node-json"]
    e = explain(v)
    assert (v.outcome, e.kind) == ("loss", "cpu")
    assert e.text == (
        "CPU per request: both kept their cores busy (fastapi-async 96% of 1 core busy at 0.320 ms "
        "CPU per request; node-single 95% of 1 core busy at 0.100 ms CPU per request); cores ÷ "
        f"CPU per request predicts {TIMES}0.31, measured {TIMES}0.32"
    )


def test_one_side_out_of_cpu_names_what_held_the_other_back() -> None:
    # FastAPI's core is busy; Go's is not (0.4 of a core): Postgres set Go's pace.
    rows = cpu_rows("db", fastapi_async=(2000, 0.48, 0.7), go_single=(4000, 0.1, 1.1))
    v = judge(rows)["parity-go-db"]
    e = explain(v)
    assert e.kind == "one-cpu"
    assert e.text.startswith("fastapi-async ran out of CPU (fastapi-async 96% of 1 core busy")
    assert "go-single did not (go-single 40% of 1 core busy at 0.100 ms CPU per request)" in e.text
    assert e.text.endswith(
        "it waited: for its own pools (a connection, a slot), for Postgres and the upstream "
        "(unpinned, used 1.10 cores), or for CPUs other work held"
    )


def test_neither_out_of_cpu_nor_at_a_pool_ceiling() -> None:
    rows = [row("io_db", "fastapi-async", 400, slot_ceiling_rps=600, service_cpu_ms_per_request=1,
                service_cores=1, infra_cpu=0.5),
            row("io_db", "node-single", 420, slot_ceiling_rps=600, service_cpu_ms_per_request=0.5,
                service_cores=1, infra_cpu=0.6)]  # fmt: skip
    e = explain(judge(rows)["parity-node-io_db"])
    assert e.kind == "waiting"
    assert e.text.startswith(
        "Not the pools alone (fastapi-async 67%, node-single 70% of their Little's-law "
        "ceilings). Neither ran out of CPU"
    )


def test_without_service_cpu_nothing_is_explained() -> None:
    rows = reps("db", "fastapi-async", [2000]) + reps("db", "go-single", [4000])
    e = explain(judge(rows)["parity-go-db"])
    assert e.kind == "unknown"
    assert "CPU was not measured" in e.text


def test_cpus_taken_by_other_work_are_named_not_blamed_on_the_services() -> None:
    """A shared machine: each service used 40% of its core, but the core was 98% busy."""
    rows = [
        row("db", "fastapi-async", 1000, service_cpu_ms_per_request=0.4, service_cores=1,
            service_cpus_busy=0.98),
        row("db", "node-single", 2000, service_cpu_ms_per_request=0.2, service_cores=1,
            service_cpus_busy=0.97),
    ]  # fmt: skip
    e = explain(judge(rows)["parity-node-db"])
    assert e.kind == "contended"
    assert "fastapi-async's 98%, node-single's 97% busy in all" in e.text
    assert "on CPUs they shared, their own figures cannot tell what held them back" in e.text
    # One side out of its own CPU, the other's CPUs taken by other work.
    rows[0].update(service_cpu_ms_per_request=0.95)
    e = explain(judge(rows)["parity-node-db"])
    assert e.kind == "one-cpu"
    assert e.text.endswith("node-single did not (node-single 40% of 1 core busy at 0.200 ms CPU "
                           "per request): other work took its CPUs (97% busy in all)")  # fmt: skip


def test_locust_well_below_wrk_on_the_same_cell_was_outrun_without_a_flag() -> None:
    """Locust's CPU was not flagged (other work took its core), yet wrk got 2.6 times as much
    from Node: the service could go faster than Locust asked, so wrk's cells decide."""
    rows = [
        *reps("json", "fastapi-async", [6011]),
        *reps("json", "node-single", [6654]),
        *reps("json", "fastapi-async", [5846], tool="wrk"),
        *reps("json", "node-single", [17422], tool="wrk"),
    ]
    node = judge(rows)["parity-node-json"]
    assert (node.tool, node.outcome) == ("wrk", "loss")
    assert node.ratio == pytest.approx(5846 / 17422)
    assert node.outrun == "node-single at 64 users: 6,654 rps where wrk served 17,422, 62% less"
    # FastAPI's Locust cell is within 10% of wrk's: not outrun.
    assert "fastapi-async" not in node.outrun


def test_a_slide_title_counts_what_was_measured() -> None:
    rows = [
        *reps("json", "fastapi-async", [1000]), *reps("json", "node-single", [3000]),
        *reps("json", "go-single", [1050]),
        *reps("db", "fastapi-async", [1000]), *reps("db", "node-single", [990]),
        *reps("db", "go-single", [900], flags=["errors"]),
    ]  # fmt: skip
    assert tally(list(judge(rows).values())) == "2 ties, 1 loss, 1 not judged"
