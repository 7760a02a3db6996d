"""The report of a result set, from ``summary.json`` and ``manifest.json`` alone.

Writes ``report.html`` (self-contained, opens offline), ``report.md`` and ``charts/*.png|svg``
into the set. Every verdict and figure is computed from the rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asynclab.bench import memory, startup
from asynclab.bench.charts import latency_chart, throughput_chart
from asynclab.bench.connections import section as connections_section
from asynclab.bench.connections import verdict_texts as connection_verdicts
from asynclab.bench.document import Block, Heading, Image, Para, Table, html_page, markdown
from asynclab.bench.open_lesson import section as open_section
from asynclab.bench.parity import explain, full_text, generator_name, spread_note
from asynclab.bench.parity import section as parity_section
from asynclab.bench.profiles import OPEN_TOOLS
from asynclab.bench.results import MANIFEST, SUMMARY, read_json, write_json
from asynclab.bench.rows import FLAG_TEXT
from asynclab.bench.targets import WRK_AGREEMENT, targets
from asynclab.bench.verdicts import (
    ALL_LESSONS,
    LESSONS,
    MEMORY_LESSONS,
    PARITY_LESSONS,
    SERVER_LESSONS,
    TIMES,
    Cell,
    Verdict,
    cells,
    locust_behind,
    verdicts,
)
from asynclab.files import write_atomic
from asynclab.registry import SERVICES

KEY_PACKAGES = ("locust", *(p for s in SERVICES.values() for p in s.packages),
                "uvicorn", "gunicorn", "granian", "gevent", "asyncpg", "psycopg", "httpx",
                "uvloop", "pydantic")  # fmt: skip

UNPINNED_INFRA = (
    "Postgres and the upstream are not pinned: they share the machine's cores with the "
    "generator and the monitoring, and their CPU grows with the throughput they serve, so the "
    "faster variant pays more of it. The infra CPU column shows what they used during the "
    "measured window, in cores (1.0 = one core busy); '-' where it was not measured (wrk runs, "
    "sets recorded before it was)."
)

CLOSED_LOOP = (
    "Locust users are a closed loop: each waits for its answer before sending the next request. "
    "When the service slows down, the offered load drops with it, so the latencies shown are "
    "those of the requests that were sent; a stream of real users arriving at a fixed rate "
    "would queue longer (coordinated omission). Read the p99 here as a lower bound of what "
    "users would see, and throughput as the capacity at that concurrency. The open-loop lesson "
    "(the full profile) offers /io/db?ms=50 at fixed arrival rates and measures the tail this "
    "hides."
)

SLOW_CLIENTS = (
    "A slot of flask-sync is a whole worker process, busy from the first byte of a request to "
    "the last byte of its answer; a slot of flask-gthread is a thread, likewise. Locust's "
    "clients are fast, so these figures do not show what slow ones do: three connections that "
    "send nothing stop flask-sync until gunicorn's worker timeout (120 s) kills its workers, "
    "and a few dozen clients that send their headers slowly stop flask-gthread. That is the "
    "model, not a fault of the lab: gunicorn asks for a buffering proxy in front of sync "
    "workers. flask-sync-nginx is that deployment (nginx reads each request whole, on the "
    "same service CPUs); gevent and uvicorn close a connection whose request head is not "
    "complete within 5 s and serve everyone else meanwhile. scripts/bench_slow_clients.py "
    "measures every variant under idle and slowloris connections (README, Slow clients)."
)


SERVERS = (
    "Each framework on its usual server and on granian (a Rust HTTP server), with the same "
    "budget: flask-granian has flask-gthread's workers, threads (granian's blocking threads) "
    "and connections per worker, fastapi-granian is fastapi-async's one process and database "
    "pool. Beside them, so the server's cost shows apart from the framework's: the same "
    "framework on two servers, and the same server with both frameworks. On the 50 ms "
    "database wait the budgets decide (Little's law), not the server; on /json and /db the "
    "CPU that each request costs does."
)


EXTERNAL_LESSONS = (
    "External targets are measured with the same scenarios, but no lesson judges them: each "
    "lesson compares two of the lab's variants, whose workers, pools and CPU plan it knows and "
    "which explain their ratio; an external target's are unknown to the lab."
)


def external_only(manifest: dict[str, Any]) -> bool:
    """A set of external targets alone: the lab's services, Postgres and upstream took no part."""
    return bool(manifest.get("targets")) and not manifest.get("variants")


def commits(manifest: dict[str, Any]) -> str | None:
    """``synchronous_commit`` as Postgres ran it for the set; None for sets that predate it."""
    value = (manifest.get("postgres") or {}).get("synchronous_commit")
    return None if value is None else str(value)


def commits_text(manifest: dict[str, Any]) -> str:
    """What a reader of /updates and POST /items figures must know about how Postgres wrote."""
    if external_only(manifest):
        return (
            "The lab's Postgres took no part in this set: how an external target's database "
            "commits is unknown to the lab, and with it whether /updates and POST /items "
            "figures include a flush to disk."
        )
    value = commits(manifest)
    if value is None:
        return (
            "Postgres' synchronous_commit was not recorded for this set. Before it was, the "
            "native lab ran Postgres with synchronous_commit=off (writes acknowledged before "
            "their flush to disk) and compose with Postgres' default, on."
        )
    if value == "off":
        return (
            "Postgres ran with synchronous_commit=off: writes were acknowledged before their WAL "
            "reached the disk, so /updates and POST /items figures leave out this disk's flush "
            "time, and a crash of Postgres would have lost the last fraction of a second of them."
        )
    return (
        f"Postgres ran with synchronous_commit={value}: every acknowledged write had waited for "
        "its WAL flush to this machine's disk, so /updates and POST /items figures include that "
        "flush time (scripts/bench_reliability.py measures what it costs)."
    )


@dataclass
class ReportOutputs:
    html: Path
    markdown: Path
    charts: list[Path] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)


def _f(value: float | None, digits: int = 0, suffix: str = "") -> str:
    return "-" if value is None else f"{value:,.{digits}f}{suffix}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _flags(flags: dict[str, int]) -> str:
    return ", ".join(f"{f} ({n})" for f, n in flags.items()) or "-"


def build_report(set_dir: Path) -> ReportOutputs:
    t0 = time.monotonic()
    summary = read_json(set_dir / SUMMARY)
    manifest_path = set_dir / MANIFEST
    manifest: dict[str, Any] = read_json(manifest_path) if manifest_path.exists() else {}
    rows: list[dict[str, Any]] = summary.get("rows", [])
    titles = {k: v.get("title", k) for k, v in manifest.get("scenarios", {}).items()}
    # Where a reader of write figures looks, the titles say how Postgres committed them.
    for name, scenario in manifest.get("scenarios", {}).items():
        if scenario.get("writes") and external_only(manifest):
            titles[name] += " (synchronous_commit unknown: external)"
        elif scenario.get("writes"):
            titles[name] += f" (synchronous_commit={commits(manifest) or 'not recorded'})"
    charts_dir = set_dir / "charts"
    charts_dir.mkdir(exist_ok=True)

    all_cells = cells(rows)
    found = verdicts(rows, titles, ALL_LESSONS)
    # A chart is titled with its scenario's first lesson (async before servers).
    by_lesson: dict[str, Verdict] = {}
    for v in found:
        by_lesson.setdefault(v.lesson.scenario, v)

    blocks: list[Block] = [Heading(f"asynclab bench: {summary.get('profile', '?')} profile", 1)]
    blocks += _header(summary, manifest)
    blocks.append(Heading("Lessons"))
    # Not a comparison of two variants: each variant's own verdict (asynclab.bench.connections).
    held_blocks, held_charts, held = connections_section(rows, manifest, charts_dir)
    if not found and not held and external_only(manifest):
        blocks.append(Para("No lesson could be judged: this set measured external targets only."))
    elif not found and not held:
        blocks.append(Para("No lesson could be judged: the set lacks the variants it compares."))
    if manifest.get("targets"):
        blocks.append(Para(EXTERNAL_LESSONS, "note"))
    servers = [v for v in found if v.lesson in SERVER_LESSONS]
    parity = [v for v in found if v.lesson in PARITY_LESSONS]
    mem = [v for v in found if v.lesson in MEMORY_LESSONS]
    for v in found:
        if v in parity or v in mem:
            continue  # their own sections, below
        if v is (servers[0] if servers else None):
            blocks += [Heading("Servers and frameworks", 3), Para(SERVERS, "note")]
        expected = v.lesson.words(v.lesson.expect)
        blocks.append(Para(f"{v.lesson.title} (expected: {expected}): {v.text()}", "verdict"))

    outputs = ReportOutputs(set_dir / "report.html", set_dir / "report.md")
    outputs.verdicts = [full_text(v) if v in parity else
                        memory.full_text(v, manifest) if v in mem else v.text()
                        for v in found]  # fmt: skip
    parity_blocks, outputs.charts = parity_section(found, all_cells, manifest, charts_dir)
    blocks += parity_blocks
    open_blocks, open_charts, open_found = open_section(rows, charts_dir)
    blocks += open_blocks
    outputs.charts += open_charts
    outputs.verdicts += [v.text() for v in open_found]
    memory_blocks, memory_charts = memory.section(found, all_cells, manifest, charts_dir)
    blocks += memory_blocks
    outputs.charts += memory_charts
    blocks += held_blocks
    outputs.charts += held_charts
    outputs.verdicts += connection_verdicts(held)
    blocks.append(Heading("Charts"))
    scenarios = sorted({c.scenario for c in all_cells.values() if c.tool == "locust"},
                       key=_scenario_order)  # fmt: skip
    # Where a verdict was judged on wrk's cells (Locust was outrun there), the charts draw
    # wrk's cells in place of Locust's, for every variant wrk measured.
    by_wrk = {v.lesson.scenario for v in found if v.tool == "wrk"}
    for scenario in scenarios:
        series = _chart_cells(all_cells, scenario, scenario in by_wrk)
        title = _chart_title(titles.get(scenario, scenario), by_lesson.get(scenario))
        tp = throughput_chart(series, title, charts_dir, f"throughput_{scenario}")
        lat = latency_chart(series, f"{titles.get(scenario, scenario)}: latency",
                            charts_dir, f"latency_{scenario}")  # fmt: skip
        outputs.charts += tp + lat
        blocks += [Heading(titles.get(scenario, scenario), 3),
                   Image(tp[0], f"{title}: throughput vs users"),
                   Image(lat[0], f"{title}: p50 and p99 latency vs users")]  # fmt: skip
        if manifest.get("scenarios", {}).get(scenario, {}).get("writes"):
            blocks.append(Para(commits_text(manifest), "note"))

    blocks.append(Heading("Targets"))
    blocks += [Para(t.text(), "note") for t in targets(all_cells, manifest, time.monotonic() - t0)]
    blocks += _ceiling_table(all_cells, titles, manifest)
    blocks += memory.efficiency_table(all_cells, titles, manifest)
    blocks += startup.section(manifest)
    blocks += _wrk_section(all_cells)
    blocks += _calibration(manifest.get("calibration"))
    blocks += _method(manifest)
    blocks += _environment(manifest)

    title = f"asynclab bench ({summary.get('profile', '?')})"
    write_atomic(outputs.markdown, markdown(blocks, set_dir))
    write_atomic(outputs.html, html_page(title, blocks))
    write_json(set_dir / "verdicts.json", [_verdict_json(v) for v in found]
               + [v.to_json() for v in open_found] + [h.to_json() for h in held])  # fmt: skip
    return outputs


def _chart_cells(all_cells: dict[Any, Cell], scenario: str, wrk: bool) -> list[Cell]:
    """Locust's cells of a scenario, or wrk's where it measured the same (variant, users)."""
    mine = {k: c for k, c in all_cells.items() if k[0] == scenario}
    if not wrk:
        return [c for c in mine.values() if c.tool == "locust"]
    return [c for (s, v, u, t), c in mine.items()
            if t == "wrk" or (t == "locust" and (s, v, u, "wrk") not in mine)]  # fmt: skip


def _verdict_json(v: Verdict) -> dict[str, Any]:
    if v.lesson in MEMORY_LESSONS:
        return {**v.to_json(), **memory.verdict_json(v)}
    if v.lesson not in PARITY_LESSONS or not v.judged:
        return v.to_json()
    explanation = explain(v)
    return {**v.to_json(), "explained_by": explanation.kind, "explanation": explanation.text,
            "spread_note": spread_note(v)}  # fmt: skip


def _scenario_order(name: str) -> tuple[int, str]:
    lessons = [lesson.scenario for lesson in LESSONS]
    return (lessons.index(name) if name in lessons else len(lessons), name)


def _chart_title(scenario_title: str, v: Verdict | None) -> str:
    if v is None:
        return f"{scenario_title}: throughput vs users"
    if not v.judged:
        return f"{scenario_title}: not judged (flagged runs) at {v.users} users"
    tool = "" if v.tool == "locust" else f" ({v.tool})"
    return (
        f"{scenario_title}: {v.lesson.words(v.outcome)}, {v.challenger.variant} "
        f"{TIMES}{v.ratio:.2f} vs {v.baseline.variant} at {v.users} users{tool}"
    )


def _header(summary: dict[str, Any], manifest: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = []
    status = summary.get("status")
    if status != "complete":
        done = len(summary.get("rows", []))
        blocks.append(Para(
            f"This set is {status}: {done} of {summary.get('planned_runs', '?')} runs finished. "
            "Figures below cover the finished runs only.", "warning"))  # fmt: skip
    for error in summary.get("errors", []):
        blocks.append(Para(f"Run {error['run']} failed: {error['error']}", "warning"))
    git = manifest.get("git", {})
    cpu = manifest.get("cpu", {})
    plan = manifest.get("cpu_plan", {})
    services = (
        f"services: {plan.get('services')}"
        if external_only(manifest)
        else f"services on CPU {plan.get('service_cpus', '?')} ({plan.get('services', '?')})"
    )
    blocks.append(Para(
        f"Started {summary.get('started_at')}, finished {summary.get('finished_at') or '-'}; "
        f"git {str(git.get('revision') or '?')[:12]}{' (dirty)' if git.get('dirty') else ''}; "
        f"CPU {cpu.get('model', '?')} x {cpu.get('count', '?')}; {services}, generator on CPU "
        f"{plan.get('generator_cpus', '?')} ({plan.get('generator_plan', '?')})."))  # fmt: skip
    blocks += _external_targets(manifest)
    blocks.append(Para(commits_text(manifest), "note"))
    return blocks


def _external_targets(manifest: dict[str, Any]) -> list[Block]:
    """Each external target, what it answered before the load, and what the lab cannot know."""
    blocks: list[Block] = []
    for target in manifest.get("targets") or []:
        answer = target.get("answer") or {}
        server = f", Server: {answer['server']}" if answer.get("server") else ""
        notes = "; ".join(target.get("notes") or [])
        blocks.append(Para(
            f"External target {target['label']} at {target['url']}, not started by the lab: "
            f"GET {answer.get('path', '?')} answered {answer.get('status', '?')} in "
            f"{_f((answer.get('seconds') or 0) * 1000)} ms{server} before the load. What the "
            f"lab cannot know of it: {notes}.", "warning"))  # fmt: skip
    return blocks


def _ceiling_table(
    all_cells: dict[Any, Cell], titles: dict[str, str], manifest: dict[str, Any]
) -> list[Block]:
    rows = []
    # The open-loop lesson's cells have their own table (their levels are loads, not users).
    closed = [c for c in all_cells.values() if c.tool not in OPEN_TOOLS]
    for c in sorted(closed, key=lambda c: (_scenario_order(c.scenario), c.variant, c.users,
                                           c.tool)):  # fmt: skip
        flags = _flags(c.flags) + ("" if c.judged else "; every run flagged, not judged")
        behind = locust_behind(all_cells, c)
        if behind is not None:
            flags += f"; {behind:.0%} below wrk: Locust set the pace"
        rows.append([titles.get(c.scenario, c.scenario), c.name, str(c.users),
                     generator_name(c.tool, manifest), c.rps.text(),
                     _f(c.ceiling_rps), _pct(c.ceiling_share), c.ceiling_note or "-",
                     _f(c.p50_ms, 1), _f(c.p99_ms, 1), _f(c.infra_cpu, 2), flags])  # fmt: skip
    return [
        Heading("Every cell against its ceiling"),
        Para("Throughput counts successful requests only, median of the unflagged repetitions "
             "(range and coefficient of variation in brackets; a cell whose every run was "
             "flagged shows them all and is not judged). The ceiling is the lower of the "
             "Little's-law ceiling (slots held ÷ time each is held: a prediction from the "
             "configuration) and the measured CPU capacity (service cores ÷ CPU time per "
             "request, both from the same run: its share is about the service's CPU use, so "
             "it says the service ran out of cores, not what the configuration allows)."),
        *([] if external_only(manifest) else [Para(UNPINNED_INFRA, "note")]),
        Table(["scenario", "variant", "users", "generator", "successful rps", "ceiling rps",
               "of ceiling", "ceiling", "p50 ms", "p99 ms", "infra CPU (cores)",
               "flags (runs)"], rows),
    ]  # fmt: skip


def _wrk_section(all_cells: dict[Any, Cell]) -> list[Block]:
    pairs = []
    for (scenario, variant, users, tool), w in sorted(all_cells.items()):
        loc = all_cells.get((scenario, variant, users, "locust"))
        if tool == "wrk" and loc is not None:
            pairs.append((loc, w))
    if not pairs:
        return []
    rows = []
    for loc, w in pairs:
        diff = loc.rps.median / w.rps.median - 1 if w.rps.median else None
        judged = loc.judged and w.judged
        agree = "-" if diff is None else ("yes" if abs(diff) <= WRK_AGREEMENT else "no")
        rows.append([loc.scenario, loc.name, str(loc.users), _f(loc.rps.median, 1),
                     _f(w.rps.median, 1), "-" if diff is None else f"{diff:+.1%}",
                     agree + ("" if judged else " (flagged, not judged)"),
                     _f(loc.p50_ms, 1), _f(w.p50_ms, 1),
                     _f(loc.p99_ms, 1), _f(w.p99_ms, 1)])  # fmt: skip
    return [
        Heading("Locust against wrk"),
        Para(f"The same route, variant and concurrency with wrk (C, one connection per Locust "
             f"user, same CPU). Where Locust is not generator-bound the two should agree within "
             f"{WRK_AGREEMENT:.0%}."),
        Table(["scenario", "variant", "users", "Locust rps", "wrk rps", "Locust vs wrk",
               f"within {WRK_AGREEMENT:.0%}", "Locust p50 ms", "wrk p50 ms", "Locust p99 ms",
               "wrk p99 ms"], rows),
    ]  # fmt: skip


def _calibration(cal: dict[str, Any] | None) -> list[Block]:
    blocks: list[Block] = [Heading("Generator calibration")]
    if not cal:
        return [*blocks, Para("Not measured for this set (--no-calibrate).", "note")]
    rows = []
    for tool in ("locust", "wrk"):
        fig = cal.get(tool)
        if fig:
            rows.append([tool, _f(fig.get("rps"), 0), _pct(fig.get("generator_cpu")),
                         _f(fig.get("cpu_ms_per_request"), 4), _f(fig.get("ceiling_rps"), 0),
                         "yes" if fig.get("saturated") else "no"])  # fmt: skip
    blocks += [
        Para(f"Both generators ran flat out on {cal.get('route')} of {cal.get('variant')} "
             f"(the fastest variant in a short wrk probe: "
             f"{', '.join(f'{k} {v:,.0f} rps' for k, v in cal.get('probe', {}).items())}) with "
             f"{cal.get('users')} connections and the generator's CPU budget. A generator's "
             "ceiling is its CPUs ÷ its CPU time per request; a run is flagged generator-bound "
             "above 80% of the lower of this calibrated ceiling and its own (the same ratio "
             "with the CPU time measured in that run: a heavier response costs the generator "
             "more than /plaintext). When the generator was not saturated the service was "
             "the limit, and the ceiling is extrapolated from the measured CPU cost."),
        Table(["generator", "rps", "generator CPU", "CPU ms per request", "ceiling rps",
               "saturated"], rows),
    ]  # fmt: skip
    return blocks


def _method(manifest: dict[str, Any]) -> list[Block]:
    profile = manifest.get("profile", {})
    flags = "; ".join(f"{k}: {v}" for k, v in FLAG_TEXT.items())
    blocking = any(
        v.get("worker_class") in ("sync", "gthread") and not v.get("proxy")
        for v in manifest.get("variants", {}).values()
    )
    return [
        Heading("How to read this"),
        Para(CLOSED_LOOP, "note"),
        *([Para(SLOW_CLIENTS, "note")] if blocking else []),
        Para(f"Each run warms up for {profile.get('warmup_s', '?')} s (discarded), then "
             f"measures {profile.get('duration_s', '?')} s; {profile.get('repetitions', '?')} "
             f"repetition(s) per cell. Flags: {flags}. A tie means within ±15%. Absolute "
             "numbers belong to this machine and CPU plan only; compare ratios, not "
             "numbers from other machines."),
    ]  # fmt: skip


def _environment(manifest: dict[str, Any]) -> list[Block]:
    if not manifest:
        return [Heading("Environment"), Para("manifest.json is missing.", "warning")]
    packages = manifest.get("packages", {})
    lower = {k.lower(): v for k, v in packages.items()}
    versions = ", ".join(f"{p} {lower[p]}" for p in KEY_PACKAGES if p in lower)
    rows = []
    for name, v in manifest.get("variants", {}).items():
        rows.append([name, str(v.get("server")), str(v.get("worker_class")),
                     str(v.get("handlers")), str(v.get("processes")),
                     str(v.get("request_slots") or "unbounded"), str(v.get("db_slots")),
                     str(v.get("upstream_slots")), str(v.get("blocking_slots"))])  # fmt: skip
    python = manifest.get("python", {})
    blocks: list[Block] = [
        Heading("Environment"),
        Para(f"Python {python.get('version', '?')} on {manifest.get('platform', '?')}; "
             f"{versions}. Every package version is in manifest.json."),
    ]  # fmt: skip
    if rows:
        blocks.append(Table(["variant", "server", "worker class", "handlers", "processes",
                             "request slots", "db slots", "upstream slots", "blocking slots"],
                            rows))  # fmt: skip
    targets = [[t["label"], t["url"], "unknown: not started by the lab"]
               for t in manifest.get("targets") or []]  # fmt: skip
    if targets:
        blocks.append(Table(["external target", "URL", "server, workers, pools, CPUs"], targets))
    return blocks
