"""Thousands of connections (asynclab.bench.connections): the rule that says a variant held its
users, on crafted summaries; what its report section says; the open-file limit; and short real
runs of the scenario through Locust and the bench runner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import free_port

from asynclab.bench import connections
from asynclab.bench.ceilings import slot_ceiling
from asynclab.bench.connections import Holding, beyond_slots, holdings, run_held
from asynclab.bench.failures import by_kind, kind_of
from asynclab.bench.locust_run import LoadSpec, run_locust
from asynclab.bench.matrix import Bench, overlong_queue
from asynclab.bench.profiles import (
    CONNECTIONS_VARIANTS,
    OPEN_TOOLS,
    PROFILES,
    Run,
    customise,
    get_profile,
)
from asynclab.bench.report import build_report
from asynclab.bench.scenarios import SCENARIOS
from asynclab.lab import Lab
from asynclab.settings import ROOT, LabSettings
from asynclab.variants import get_variant

DATA = Path(__file__).parent / "data"
SETTINGS = LabSettings()


def row(
    variant: str, users: int, ok_rps: float, p99_ms: float | None, **more: Any
) -> dict[str, Any]:
    """A summary row of the lesson's scenario, as the bench writes it (memory as wt-mem's)."""
    ceiling = slot_ceiling(SCENARIOS["io_sleep"], get_variant(variant), SETTINGS, users)
    assert ceiling is not None
    return {
        "scenario": "io_sleep", "variant": variant, "users": users, "tool": "locust",
        "repetition": 1, "rps": ok_rps, "ok_rps": ok_rps, "p50_ms": p99_ms, "p99_ms": p99_ms,
        "error_rate": 0.0, "flags": [], "failure_kinds": {},
        "ceiling_rps": ceiling.rps, "slot_ceiling_rps": ceiling.rps, "ceiling_kind": "slots",
        "ceiling_note": ceiling.note, **more,
    }  # fmt: skip


def holding(rows: list[dict[str, Any]]) -> Holding:
    [found] = holdings(rows)
    return found


# --- the rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "held"),
    [
        ({}, True),
        ({"error_rate": 0.0099}, True),
        ({"error_rate": 0.01}, False),  # errors under 1%, not at it
        ({"p99_ms": 1999.0}, True),
        ({"p99_ms": 2000.0}, False),  # p99 under 2 s
        ({"p99_ms": None}, False),  # nothing answered
        ({"ok_rps": 500.0}, True),  # 1,000 users answered at least every 2 s
        ({"ok_rps": 499.0}, False),  # some users still waiting when the window closed
    ],
)
def test_a_run_holds_its_users_by_errors_p99_and_throughput(
    changes: dict[str, Any], held: bool
) -> None:
    data = row("fastapi-async", 1000, 980.0, 1050.0) | changes
    assert run_held(data) is held
    assert holding([data]).levels[0].held is held


def test_an_external_targets_rows_are_not_judged_here() -> None:
    mine = row("go-single", 1000, 990.0, 1010.0)
    theirs = mine | {"variant": "theirs", "external": True}
    assert [h.variant for h in holdings([mine, theirs])] == ["go-single"]


def test_the_verdict_is_the_largest_count_held_with_the_spread_of_its_runs() -> None:
    rows = [row("go-single", u, u * 0.97, 1010.0 + rep) | {"repetition": rep}
            for u in (1000, 2000, 5000) for rep in (1, 2)]  # fmt: skip
    rows.append(row("go-single", 10_000, 3000.0, 3500.0))
    h = holding(rows)
    assert h.held_users == 5000
    assert h.judged
    text = h.text()
    assert text.startswith("go-single holds 5,000 users: 4,850 rps, p99 1,012 ms (1,011 ms to")
    assert "not 10,000 (p99 3,500 ms; 3,000 rps where 10,000 users answered within 2 s make " \
        "5,000)" in text  # fmt: skip


def test_the_medians_decide_and_the_text_says_when_runs_disagree() -> None:
    rows = [row("node-single", 2000, 1900.0, p99) | {"repetition": rep}
            for rep, p99 in ((1, 1500.0), (2, 1700.0), (3, 2600.0))]  # fmt: skip
    h = holding(rows)
    assert h.held_users == 2000
    assert h.levels[0].held_runs == 2
    assert "held in 2 of 3 runs" in h.text()


def test_a_level_not_held_under_a_flagged_generator_is_not_judged() -> None:
    busy = {"flags": ["generator_cpu"]}
    rows = [
        row("fastapi-async", 1000, 990.0, 1020.0),
        row("fastapi-async", 5000, 2600.0, 2900.0) | busy,
        # Held in spite of a busy generator: a slower generator only lengthens what it measures.
        row("node-single", 5000, 4800.0, 1200.0) | busy,
    ]
    found = {h.variant: h for h in holdings(rows)}
    fastapi, node = found["fastapi-async"], found["node-single"]
    assert fastapi.held_users == 1000
    assert not fastapi.judged
    assert "Not judged at 5,000 users, which it did not hold: generator above 90% CPU in 1 of 1" \
        in fastapi.text()  # fmt: skip
    assert "generator" in (fastapi.levels[1].shortfall() or "")
    assert (node.held_users, node.judged) == (5000, True)
    assert [h.variant for h in holdings(rows)] == ["node-single", "fastapi-async"]


def test_other_work_on_the_service_cpus_leaves_a_level_unjudged_unless_slots_decide() -> None:
    """As measured on a shared machine: the service CPU 100% busy, a few percent of it the
    service's own. fastapi-async's miss says nothing of fastapi-async; flask-gevent's 300
    greenlets could not have held 1,000 users anyway (Little's law)."""
    shared = {"service_cpus_busy": 1.0, "service_cpu_ms_per_request": 0.27, "service_cores": 1}
    rows = [row("fastapi-async", 1000, 599.0, 2200.0, **shared),
            row("fastapi-async", 2000, 858.0, 6400.0, **shared),
            row("flask-gevent", 1000, 281.0, 1300.0, p50_ms=1000.0, **shared)]  # fmt: skip
    found = {h.variant: h for h in holdings(rows)}
    fastapi, gevent = found["fastapi-async"], found["flask-gevent"]
    assert (fastapi.held_users, fastapi.judged) == (None, False)
    assert fastapi.text() == (
        "fastapi-async held none of 1,000, 2,000 users. Not judged at 1,000, 2,000 users, which "
        "it did not hold: at 1,000, other work kept the service CPUs busy (100% busy, 16% its "
        "own); at 2,000, other work kept the service CPUs busy (100% busy, 23% its own): on a "
        "shared machine the service's own figures cannot say what held it back."
    )
    assert (gevent.held_users, gevent.judged) == (None, True)


def test_a_sync_variant_holds_none_and_its_queue_is_told_from_failure_kinds() -> None:
    rows = [
        row("flask-sync", 1000, 3.0, 9900.0, p50_ms=9000.0),
        row("flask-sync", 2000, 3.0, 60_000.0, error_rate=0.02,
            failure_kinds={"timeout": 7, "reset": 1}),
    ]  # fmt: skip
    h = holding(rows)
    assert h.held_users is None
    text = h.text()
    assert text.startswith("flask-sync held none of 1,000, 2,000 users (at 1,000: p99 9,900 ms;")
    beyond = beyond_slots(h)
    assert beyond is not None
    assert beyond.startswith("flask-sync (3 sync workers): none was refused: ")
    assert (
        "failed: 1 connection reset or closed, 7 timed out (the client gave up waiting)." in beyond
    )
    overflow = beyond_slots(h, {"somaxconn": 1024, "tcp_abort_on_overflow": 0})
    assert (overflow or "").endswith(
        " Past the listen backlog (1,024 connections, at 2,000 users and more), the kernel "
        "dropped the last step of their handshakes instead of refusing them "
        "(tcp_abort_on_overflow = 0), and the clients kept retrying."
    )
    assert beyond_slots(h, {"somaxconn": 4096, "tcp_abort_on_overflow": 0}) == beyond
    refused = holding([row("flask-sync", 1000, 3.0, 900.0, error_rate=0.5,
                           failure_kinds={"refused": 400})])  # fmt: skip
    assert "400 connections were refused" in (beyond_slots(refused) or "")
    # Where only memory bounds the slots, there is nothing beyond them.
    assert beyond_slots(holding([row("go-single", 1000, 990.0, 1010.0)])) is None


def test_users_a_full_server_never_answered_fail_it_though_its_p99_looks_fine() -> None:
    """flask-gevent as measured: 300 greenlets, each kept by its keep-alive connection, answer
    in a second; the other 700 users wait in the listen backlog, in no percentile."""
    h = holding([row("flask-gevent", 1000, 281.0, 1300.0, p50_ms=1000.0)])
    assert h.held_users is None
    assert h.text() == (
        "flask-gevent held none of 1,000 users (at 1,000: 281 rps where 1,000 users answered "
        "within 2 s make 500: about 719 users had no answer within the window, and the p99 of "
        "1,300 ms counts only the answered)."
    )
    assert "about 719 users without an answer coming" in (beyond_slots(h) or "")


def test_memory_per_thousand_connections_is_the_growth_between_levels_held() -> None:
    rows = [row("go-single", u, u * 0.98, 1010.0, service_rss_mib=mib, service_rss_mib_max=mib + 3)
            for u, mib in ((1000, 18.0), (2000, 26.0), (5000, 50.0))]  # fmt: skip
    rows.append(row("go-single", 10_000, 2000.0, 5000.0, service_rss_mib=200.0))
    h = holding(rows)
    memory = h.memory_per_thousand()
    assert memory is not None
    assert memory[0] == pytest.approx(8.0)  # (50 - 18) MiB ÷ 4,000 users
    assert (
        "8.0 MiB per 1,000 connections (growth from 1,000 to 5,000 users: 18 to 50 MiB)" in h.text()
    )
    assert h.levels[2].rss_max_mib == 53.0


def test_memory_of_one_level_held_includes_the_base_and_missing_figures_are_said() -> None:
    one = holding([row("fastapi-async", 1000, 990.0, 1010.0, service_rss_mib=80.0),
                   row("fastapi-async", 2000, 900.0, 2500.0, service_rss_mib=95.0)])  # fmt: skip
    memory = one.memory_per_thousand()
    assert memory is not None
    assert memory[0] == 80.0
    assert "80 MiB at 1,000 users, the service's base memory included" in one.text()
    # Summaries without the memory fields (sets from before they were sampled).
    bare = holding([row("fastapi-async", 1000, 990.0, 1010.0)])
    assert bare.memory_per_thousand() is None
    assert bare.text().endswith("Memory: not measured in this set.")
    assert bare.to_json()["memory_mib_per_1000"] is None


def test_a_level_below_90_percent_of_its_ceiling_says_why() -> None:
    cpu = row("fastapi-async", 5000, 4000.0, 1900.0, service_cpu_ms_per_request=0.24,
              service_cores=1)  # fmt: skip
    assert holding([cpu]).levels[0].shortfall() == (
        "80% of its ceiling (5000 users (unbounded: a timer on the event loop per request) ÷ "
        "1 s = 5,000 rps): the service's CPU (96% of its cores busy)"
    )
    shared = row("go-single", 5000, 4000.0, 1900.0, service_cpus_busy=0.97)
    assert "other work kept the service CPUs 97% busy" in (
        holding([shared]).levels[0].shortfall() or ""
    )
    unexplained = holding([row("go-single", 5000, 4000.0, 1900.0)]).levels[0].shortfall()
    assert unexplained is not None
    assert unexplained.endswith("none of the measured limits (generator, errors, CPU) explains it")
    assert holding([row("go-single", 5000, 4600.0, 1100.0)]).levels[0].shortfall() is None


def test_failures_are_counted_by_kind() -> None:
    assert kind_of("ConnectionRefusedError(111, 'Connection refused')") == "refused"
    assert kind_of("ConnectionResetError(104, 'Connection reset by peer')") == "reset"
    assert kind_of("timeout('timed out')") == "timeout"
    assert kind_of('status 503: {"error": ...}') == "status"
    assert kind_of('expected {"ms": 1000}, got {}') == "answer"
    assert kind_of("HTTPParseError('x')") == "other"
    assert by_kind({"timeout('timed out')": 3, "ConnectionTimeout()": 2, "status 502: x": 1}) == {
        "timeout": 5, "status": 1,
    }  # fmt: skip


# --- ceilings and profiles --------------------------------------------------------------------


def test_the_ceiling_is_the_servers_own_slots_or_the_users() -> None:
    scenario = SCENARIOS["io_sleep"]

    def rps(variant: str, users: int = 5000) -> float:
        ceiling = slot_ceiling(scenario, get_variant(variant), SETTINGS, users)
        assert ceiling is not None
        return ceiling.rps

    w, t, g = SETTINGS.workers, SETTINGS.threads, SETTINGS.gevent_connections
    assert rps("flask-sync") == w
    assert rps("flask-gthread") == w * t
    assert rps("flask-gevent") == w * g  # gunicorn's worker_connections per worker
    assert rps("fastapi-def") == SETTINGS.def_threads
    for unbounded in ("fastapi-async", "node-single", "go-single"):
        assert rps(unbounded) == 5000
        assert rps(unbounded, 1000) == 1000


def test_the_lesson_is_in_the_full_profile_and_has_its_own() -> None:
    for name in ("full", "connections"):
        runs = [r for r in PROFILES[name].runs() if r.scenario == "io_sleep"]
        assert {r.variant for r in runs} == set(CONNECTIONS_VARIANTS)
        assert {r.users for r in runs} == {1000, 2000, 5000}
        assert {r.repetition for r in runs} == {1, 2}
    assert "io_sleep" not in {c.scenario for c in PROFILES["quick"].cells}
    # Of the variants asked for on the command line, the lesson's own.
    asked = customise(get_profile("connections"), variants=["go-single", "go-multi"], users=[8])
    assert {(r.variant, r.users) for r in asked.runs()} == {("go-single", 8)}


# --- the open-file limit ----------------------------------------------------------------------

# Lowers this child's hard limit to 1,024 (anyone may lower it), then asks.
LIMITED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (512, 1024))
from asynclab.openfiles import raise_soft_limit, shortfall
print(raise_soft_limit())
print(shortfall(int(sys.argv[1])))
"""


def test_the_soft_limit_is_raised_and_a_low_hard_limit_refused_with_the_fix() -> None:
    def run(users: int) -> list[str]:
        done = subprocess.run([sys.executable, "-c", LIMITED, str(users)], cwd=ROOT, text=True,
                              capture_output=True, check=True, timeout=60)  # fmt: skip
        return done.stdout.splitlines()

    raised, fits = run(700)
    assert (raised, fits) == ("(1024, 1024)", "None")
    _, refused = run(5000)
    assert refused.startswith("5,000 users need about 5,256 open files in Locust and in the ")
    assert "hard limit is 1,024 (ulimit -Hn" in refused
    assert refused.endswith("or run fewer users")


def test_the_bench_refuses_users_the_hard_limit_cannot_hold(tmp_path: Path) -> None:
    code = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (512, 1024)); "
        "from asynclab.cli import main; sys.exit(main())"
    )
    env = {"ASYNCLAB_STATE_DIR": str(tmp_path / "state"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", code, "bench", "--profile", "connections", "--no-report",
         "--results-dir", str(tmp_path / "results")],
        cwd=ROOT, env=env, text=True, capture_output=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "Error: 5,000 users need about 5,256 open files" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "results").exists()


# --- the report -------------------------------------------------------------------------------


def test_the_report_has_the_lesson_its_slide_and_its_verdicts(tmp_path: Path) -> None:
    set_dir = tmp_path / "20260101-000000"
    set_dir.mkdir()
    manifest = json.loads((DATA / "manifest.json").read_text())
    manifest["scenarios"] = {"io_sleep": {"title": SCENARIOS["io_sleep"].title, "writes": False}}
    manifest["network"] = {"somaxconn": 4096}
    rows = []
    for rep in (1, 2):
        rows += [row("go-single", u, u * 0.97, 1010.0 + rep, repetition=rep,
                     service_rss_mib=10 + u / 125, service_rss_mib_max=12 + u / 125)
                 for u in (1000, 2000, 5000)]  # fmt: skip
        rows += [row("flask-sync", u, 3.0, 9000.0 + u, repetition=rep, service_rss_mib=150.0,
                     failure_kinds={"timeout": 2} if u == 5000 else {})
                 for u in (1000, 2000, 5000)]  # fmt: skip
    summary = {"profile": "connections", "status": "complete", "planned_runs": len(rows),
               "rows": rows, "errors": []}  # fmt: skip
    (set_dir / "summary.json").write_text(json.dumps(summary))
    (set_dir / "manifest.json").write_text(json.dumps(manifest))

    out = build_report(set_dir)
    assert {"connections.png", "connections.svg"} <= {p.name for p in out.charts}
    page, markdown = out.html.read_text(), out.markdown.read_text()
    for text in (
        "Thousands of connections: go-single holds 5,000 users (the most measured)",
        "8.0 MiB per 1,000 connections",
        "Thousands of connections: flask-sync held none of 1,000, 2,000, 5,000 users",
        "net.core.somaxconn = 4,096",
        "Connections beyond the slots",
        "flask-sync (3 sync workers): none was refused",
    ):
        assert text in page
        assert text in markdown
    assert "No lesson could be judged" not in page
    assert out.verdicts == connections.verdict_texts(holdings(rows))
    verdicts = json.loads((set_dir / "verdicts.json").read_text())
    assert [(v["variant"], v["held_users"]) for v in verdicts] == [
        ("go-single", 5000), ("flask-sync", None),
    ]  # fmt: skip
    assert verdicts[0]["memory_mib_per_1000"] == 8.0


# --- real runs --------------------------------------------------------------------------------


def test_refused_connections_are_failures_of_their_kind(tmp_path: Path) -> None:
    """Locust counted no request at all when a connection failed (the check read the body of a
    response that had none); now each is a failure named by its error."""
    spec = LoadSpec(SCENARIOS["io_sleep"], f"http://127.0.0.1:{free_port()}", 2, 0, 1,
                    tmp_path, env=(("LOCUST_METRICS_PORT", "0"),))  # fmt: skip
    result = run_locust(spec, ROOT, generator_cpus=1)
    assert result.requests > 0
    assert result.failures == result.requests
    assert result.failure_kinds == {"refused": result.requests}


@pytest.mark.slow
def test_a_short_run_through_the_bench(lab: Lab, tmp_path: Path) -> None:
    """A dozen users on each side: fastapi-async answers them all at once; flask-sync's three
    workers answer three a second (Little's law), so it cannot hold them."""
    users = 12
    profile = customise(get_profile("connections"), variants=["flask-sync", "fastapi-async"],
                        users=[users], repetitions=1, duration_s=3, warmup_s=1,
                        calibrate=False)  # fmt: skip
    set_dir = Bench(lab.settings, profile, tmp_path / "results", echo=lambda _: None).run()
    summary = json.loads((set_dir / "summary.json").read_text())
    assert (summary["status"], summary["errors"]) == ("complete", [])
    rows = {r["variant"]: r for r in summary["rows"]}
    assert set(rows) == {"flask-sync", "fastapi-async"}
    for r in rows.values():
        assert r["route"] == "/io/sleep?ms=1000"
        assert isinstance(r["failure_kinds"], dict)
    slots = lab.settings.workers
    assert rows["flask-sync"]["ok_rps"] <= slots * 1.2  # one a second per worker
    assert rows["fastapi-async"]["ok_rps"] > slots * 1.5  # not bound by slots
    found = {h.variant: h for h in holdings(summary["rows"])}
    assert found["flask-sync"].held_users is None


def test_a_queue_that_would_outlast_the_drain_is_flushed_by_a_restart() -> None:
    """After a run whose users queue longer than the bench waits for a drain, the bench
    restarts the variant (``Bench._flush_queue``), so the next run starts clean."""
    assert overlong_queue(Run("flask-sync", "io_sleep", 1000, 1), SETTINGS) == (
        "its queue (1000 users, 3 sync workers ÷ 1 s = 3 rps) would take about 333 s to drain"
    )
    assert overlong_queue(Run("fastapi-def", "io_sleep", 1000, 1), SETTINGS) is not None
    assert overlong_queue(Run("flask-gevent", "io_sleep", 5000, 1), SETTINGS) is not None
    # What drains within wait_idle's 15 s is left to drain.
    for kept in (Run("flask-gevent", "io_sleep", 1000, 1), Run("go-single", "io_sleep", 5000, 1),
                 Run("fastapi-async", "io_sleep", 5000, 1), Run("flask-sync", "io_db", 256, 1),
                 Run("flask-sync", "cpu_python", 32, 1)):  # fmt: skip
        assert overlong_queue(kept, SETTINGS) is None, kept
    # Not a service of the lab, or a level that is a load, not users.
    assert overlong_queue(Run("theirs", "io_sleep", 1000, 1, external=True), SETTINGS) is None
    open_tool = OPEN_TOOLS[0]
    assert overlong_queue(Run("flask-sync", "io_db", 95, 1, open_tool), SETTINGS) is None
