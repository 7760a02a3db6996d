"""Thousands of connections: how many concurrent users each variant holds, and at what memory.

Each Locust user holds one request at a time (no wait between them) on ``/io/sleep?ms=1000``,
a wait that no pool caps, so 1,000 users are 1,000 open connections and about 1,000 requests a
second. A variant *holds* a user count when, over the measured window:

- fewer than 1% of its requests failed;
- their p99 stayed under 2 s (twice the wait);
- it answered at least users ÷ 2 s successful requests a second. In a closed loop every user
  that waited less than 2 s asked again: a throughput below that means users whose requests
  were still waiting when the window closed, which no percentile counts (a sync worker's
  listen backlog keeps them there).

The figures of a level are the medians of its repetitions, each with its range; when the runs
disagree the text says how many held. A level that did not hold is not judged where the
generator was flagged (its CPU, its ceiling), a run did not start clean, or other work kept
the service CPUs 90% busy while the service's own share stayed under 90%: then the generator,
the previous run or the machine may have set the pace. Unless the variant's slots alone
forbid holding the users (Little's law: slots ÷ 1 s below users ÷ 2 s): that needs no clean
machine. One that held in spite of a flagged generator counts, since a slower generator only
lengthens what it measures.

The verdict of a variant is the largest user count it held, and memory per thousand
connections: the growth of the service's resident memory (all its processes, the mean over
the window) from its lowest to its highest level held, per thousand users; with a single
level held, that level's memory per thousand users, its base included (said so).

Below 90% of its ceiling (its slots ÷ 1 s, or users ÷ 1 s where nothing but memory bounds it)
a level says what the run's own figures name: the generator, errors, the service's CPU, or
other work on its CPUs.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asynclab.bench import failures
from asynclab.bench.charts import connections_chart
from asynclab.bench.document import Block, Heading, Image, Para, Table
from asynclab.bench.rows import ERROR_LIMIT, FLAG_TEXT
from asynclab.bench.scenarios import get_scenario
from asynclab.bench.verdicts import GENERATOR_FLAGS, Spread
from asynclab.variants import BACKLOG

SCENARIO = "io_sleep"
TITLE = "Thousands of connections"
HOLD_P99_MS = 2000.0
CEILING_SHARE = 0.90
BUSY = 0.90
# Flags under which a level that did not hold may not have measured the service.
INCONCLUSIVE = (*GENERATOR_FLAGS, "not_drained", "locust_exit")
SHARED = "other work kept the service CPUs busy"


def _median(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _spread(values: Iterable[float | None]) -> Spread | None:
    known = [float(v) for v in values if v is not None]
    return Spread.of(known) if known else None


def _seconds(ms: float) -> str:
    return f"{ms:,.0f} ms" if ms < 10_000 else f"{ms / 1000:,.0f} s"


def _range(spread: Spread, fmt: Callable[[float], str]) -> str:
    """``"1,020 ms"`` or ``"1,020 ms (1,010 ms-1,040 ms)"`` over several runs."""
    if spread.n == 1 or spread.low == spread.high:
        return fmt(spread.median)
    return f"{fmt(spread.median)} ({fmt(spread.low)} to {fmt(spread.high)})"


def _ok_rps(row: dict[str, Any]) -> float:
    value = row.get("ok_rps")
    return float(row.get("rps") or 0 if value is None else value)


def run_held(row: dict[str, Any]) -> bool:
    """One run's answer to "were these users held?" (the rule of the module's docstring)."""
    users, p99 = int(row["users"]), row.get("p99_ms")
    return (
        (row.get("error_rate") or 0) < ERROR_LIMIT
        and p99 is not None
        and p99 < HOLD_P99_MS
        and _ok_rps(row) >= users / (HOLD_P99_MS / 1000)
    )


@dataclass(frozen=True)
class Level:
    """The repetitions of one variant at one user count."""

    variant: str
    users: int
    runs: int
    held_runs: int
    ok_rps: Spread
    error_rate: Spread
    p50_ms: float | None
    p99_ms: Spread | None
    rss_mib: Spread | None  # the service's mean resident memory over the window, all processes
    rss_max_mib: float | None  # the highest any run saw
    ceiling_rps: float | None  # the binding one: Little's law, or the measured CPU capacity
    ceiling_note: str | None
    slot_ceiling_rps: float | None  # slots (or users) ÷ the wait: Little's law alone
    slot_note: str | None  # "3 sync workers ÷ 1 s = 3 rps"
    failure_kinds: dict[str, int] = field(default_factory=dict)  # summed over the runs
    flags: dict[str, int] = field(default_factory=dict)  # flag -> runs that raised it
    cpu_busy: float | None = None  # the share of its usable cores the service kept busy
    service_cpus_busy: float | None = None  # its CPUs' busy share, whatever ran on them

    @property
    def held(self) -> bool:
        """The medians pass the rule (``run_held``)."""
        p99 = self.p99_ms.median if self.p99_ms else None
        return (
            self.error_rate.median < ERROR_LIMIT
            and p99 is not None
            and p99 < HOLD_P99_MS
            and self.ok_rps.median >= self.users / (HOLD_P99_MS / 1000)
        )

    @property
    def slot_bound(self) -> bool:
        """Its slots alone forbid holding the users (Little's law: slots ÷ 1 s < users ÷ 2 s),
        whatever else happened on the machine."""
        ceiling = self.slot_ceiling_rps
        return ceiling is not None and ceiling < self.users / (HOLD_P99_MS / 1000)

    def inconclusive(self) -> str | None:
        """Why a level that did not hold may not have measured the service: its runs' flags,
        or other work on its CPUs (they were 90% busy, the service's own share under 90%);
        None when it held, when its slots decide, or when nothing disturbed it."""
        if self.held or self.slot_bound:
            return None
        flagged = self.flag_text(INCONCLUSIVE)
        if flagged:
            return flagged
        if (self.service_cpus_busy or 0) >= BUSY and (self.cpu_busy or 0) < BUSY:
            own = f", {self.cpu_busy:.0%} its own" if self.cpu_busy is not None else ""
            return f"{SHARED} ({self.service_cpus_busy:.0%} busy{own})"
        return None

    @property
    def judged(self) -> bool:
        return self.inconclusive() is None

    @property
    def ceiling_share(self) -> float | None:
        return self.ok_rps.median / self.ceiling_rps if self.ceiling_rps else None

    def flag_text(self, only: Iterable[str] | None = None) -> str:
        wanted = set(only) if only is not None else set(self.flags)
        return ", ".join(f"{FLAG_TEXT.get(f, f)} in {n} of {self.runs} runs"
                         for f, n in self.flags.items() if f in wanted)  # fmt: skip

    def figures(self) -> str:
        """``"4,870 rps, p99 1,050 ms, errors 0.00%"``, each with its range."""
        p99 = f", p99 {_range(self.p99_ms, _seconds)}" if self.p99_ms else ", no answer"
        errors = _range(self.error_rate, lambda v: f"{v:.2%}")
        return f"{_range(self.ok_rps, lambda v: f'{v:,.0f} rps')}{p99}, errors {errors}"

    @property
    def unanswered(self) -> int:
        """Users that had no answer coming, by Little's law: the users less those the answers
        kept busy (successful rps x their median latency). A sync worker's backlog holds them,
        and no percentile counts them."""
        latency_s = (self.p50_ms or 0) / 1000 or _wait_s()
        return max(0, round(self.users - self.ok_rps.median * latency_s))

    def why_not(self) -> str:
        """What failed the rule: ``"p99 9.9 s; 3 rps where 1,000 users answered within 2 s
        make 500"``."""
        parts = []
        if self.error_rate.median >= ERROR_LIMIT:
            parts.append(f"errors {self.error_rate.median:.1%}")
        if self.p99_ms is None:
            parts.append("no request answered")
        elif self.p99_ms.median >= HOLD_P99_MS:
            parts.append(f"p99 {_seconds(self.p99_ms.median)}")
        need = self.users / (HOLD_P99_MS / 1000)
        if self.ok_rps.median < need:
            parts.append(f"{self.ok_rps.median:,.0f} rps where {self.users:,} users answered "
                         f"within 2 s make {need:,.0f}")  # fmt: skip
            if self.p99_ms is not None and self.p99_ms.median < HOLD_P99_MS:
                parts[-1] += (f": about {self.unanswered:,} users had no answer within the "
                              f"window, and the p99 of {_seconds(self.p99_ms.median)} counts "
                              "only the answered")  # fmt: skip
        return "; ".join(parts)

    def shortfall(self) -> str | None:
        """Why the level served under 90% of its ceiling, from its own figures; None at 90% or
        above (or without a ceiling)."""
        share = self.ceiling_share
        if share is None or share >= CEILING_SHARE:
            return None
        # Floored: 89.6% is below 90%, and must not read "90%".
        head = f"{math.floor(share * 100)}% of its ceiling ({self.ceiling_note})"
        generator = self.flag_text(GENERATOR_FLAGS)
        if generator:
            return f"{head}: the generator ({generator})"
        if self.error_rate.median >= ERROR_LIMIT:
            return f"{head}: errors ({failures.text(self.failure_kinds)})"
        if (self.cpu_busy or 0) >= BUSY:
            return f"{head}: the service's CPU ({self.cpu_busy:.0%} of its cores busy)"
        if (self.service_cpus_busy or 0) >= BUSY:
            return (f"{head}: other work kept the service CPUs {self.service_cpus_busy:.0%} "
                    "busy")  # fmt: skip
        return f"{head}: none of the measured limits (generator, errors, CPU) explains it"


def _level(variant: str, users: int, rows: list[dict[str, Any]]) -> Level:
    flags: dict[str, int] = defaultdict(int)
    kinds: dict[str, int] = defaultdict(int)
    for row in rows:
        for flag in row.get("flags") or []:
            flags[flag] += 1
        for kind, n in (row.get("failure_kinds") or {}).items():
            kinds[kind] += int(n)
    cpu_busy = []
    for row in rows:
        ms, cores = row.get("service_cpu_ms_per_request"), row.get("service_cores")
        if ms is not None and cores:
            cpu_busy.append(_ok_rps(row) * ms / 1000 / cores)
    rss_max = [r["service_rss_mib_max"] for r in rows if r.get("service_rss_mib_max") is not None]
    # The run holding the median ceiling: its note explains that number.
    known = sorted((r for r in rows if r.get("ceiling_rps") is not None),
                   key=lambda r: float(r["ceiling_rps"]))  # fmt: skip
    ceiling = known[(len(known) - 1) // 2] if known else None
    ok, errors = _spread(_ok_rps(r) for r in rows), _spread(r.get("error_rate") or 0 for r in rows)
    assert ok is not None  # rows is never empty
    assert errors is not None
    return Level(
        variant, users, len(rows), sum(run_held(r) for r in rows), ok, errors,
        p50_ms=_median(r.get("p50_ms") for r in rows),
        p99_ms=_spread(r.get("p99_ms") for r in rows),
        rss_mib=_spread(r.get("service_rss_mib") for r in rows),
        rss_max_mib=max(rss_max) if rss_max else None,
        ceiling_rps=ceiling["ceiling_rps"] if ceiling else None,
        ceiling_note=ceiling.get("ceiling_note") if ceiling else None,
        slot_ceiling_rps=_median(r.get("slot_ceiling_rps") for r in rows),
        slot_note=next((r.get("ceiling_note") for r in rows if r.get("ceiling_kind") == "slots"),
                       None),
        failure_kinds=dict(kinds), flags=dict(flags),
        cpu_busy=_median(cpu_busy),
        service_cpus_busy=_median(r.get("service_cpus_busy") for r in rows),
    )  # fmt: skip


def levels(rows: Iterable[dict[str, Any]]) -> dict[str, list[Level]]:
    """Locust's runs of the lesson's scenario, by variant, by user count (ascending)."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        # The lab's variants only: an external target's slots and memory are unknown.
        mine = (row.get("scenario") == SCENARIO and row.get("tool", "locust") == "locust"
                and not row.get("external"))  # fmt: skip
        if mine and row.get("rps") is not None:
            groups[(row["variant"], int(row["users"]))].append(row)
    out: dict[str, list[Level]] = defaultdict(list)
    for (variant, users), group in sorted(groups.items()):
        out[variant].append(_level(variant, users, group))
    return dict(out)


@dataclass(frozen=True)
class Holding:
    """One variant's verdict: the largest user count it held, and memory per 1,000."""

    variant: str
    levels: tuple[Level, ...]

    @property
    def held(self) -> Level | None:
        """The highest level held; None when it held none."""
        return next((lv for lv in reversed(self.levels) if lv.held), None)

    @property
    def held_users(self) -> int | None:
        return self.held.users if self.held else None

    @property
    def unjudged_above(self) -> tuple[Level, ...]:
        """Levels above the one held (or any, when none was) that could not be judged."""
        floor = self.held_users or 0
        return tuple(lv for lv in self.levels if lv.users > floor and not lv.judged)

    @property
    def judged(self) -> bool:
        """Whether the largest user count held is known: no higher level was left unjudged."""
        return not self.unjudged_above

    def memory_per_thousand(self) -> tuple[float, str] | None:
        """(MiB per 1,000 connections, how it was computed), from the levels held; None
        without memory figures or a level held."""
        held = [lv for lv in self.levels if lv.held and lv.rss_mib is not None]
        if not held:
            return None
        low, high = held[0], held[-1]
        assert low.rss_mib is not None
        assert high.rss_mib is not None
        if high.users > low.users:
            growth = (high.rss_mib.median - low.rss_mib.median) / (high.users - low.users)
            return growth * 1000, (
                f"growth from {low.users:,} to {high.users:,} users: {low.rss_mib.median:,.0f} "
                f"to {high.rss_mib.median:,.0f} MiB"
            )
        per = high.rss_mib.median / high.users * 1000
        return per, (f"{high.rss_mib.median:,.0f} MiB at {high.users:,} users, the service's "
                     "base memory included: the only level held")  # fmt: skip

    def text(self) -> str:
        """The verdict, in words, from the figures."""
        tried = ", ".join(f"{lv.users:,}" for lv in self.levels)
        held = self.held
        if held is None:
            first = self.levels[0]
            line = f"{self.variant} held none of {tried} users"
            line += f" (at {first.users:,}: {first.why_not()})" if first.judged else ""
        else:
            most = " (the most measured)" if held is self.levels[-1] else ""
            line = f"{self.variant} holds {held.users:,} users{most}: {held.figures()}"
            if held.held_runs < held.runs:
                line += f", held in {held.held_runs} of {held.runs} runs"
            above = [lv for lv in self.levels if lv.users > held.users and lv.judged]
            if above:
                line += f"; not {above[0].users:,} ({above[0].why_not()})"
            lower = [lv for lv in self.levels if lv.users < held.users and not lv.held]
            if lower:
                line += (f"; although it did not hold {', '.join(f'{lv.users:,}' for lv in lower)}"
                         " (the spread of a shared machine)")  # fmt: skip
        unjudged = [(lv.users, lv.inconclusive() or "") for lv in self.unjudged_above]
        if unjudged:
            counts = ", ".join(f"{users:,}" for users, _ in unjudged)
            reasons = {why for _, why in unjudged}
            why = (reasons.pop() if len(reasons) == 1 else
                   "; ".join(f"at {users:,}, {why}" for users, why in unjudged))  # fmt: skip
            line += f". Not judged at {counts} users, which it did not hold: {why}"
            if any(SHARED in why for _, why in unjudged):
                line += (
                    ": on a shared machine the service's own figures cannot say what held it back"
                )
        memory = self.memory_per_thousand()
        if memory is not None:
            line += f". Memory: {memory[0]:,.1f} MiB per 1,000 connections ({memory[1]})"
        elif held is not None:
            line += ". Memory: not measured in this set"
        return line + "."

    def to_json(self) -> dict[str, Any]:
        memory = self.memory_per_thousand()
        return {
            "lesson": "connections",
            "title": TITLE,
            "scenario": SCENARIO,
            "variant": self.variant,
            "held_users": self.held_users,
            "judged": self.judged,
            "levels": [
                {
                    "users": lv.users,
                    "held": lv.held,
                    "held_runs": lv.held_runs,
                    "runs": lv.runs,
                    "judged": lv.judged,
                    "ok_rps": lv.ok_rps.median,
                    "ok_rps_range": [lv.ok_rps.low, lv.ok_rps.high],
                    "error_rate": lv.error_rate.median,
                    "p99_ms": lv.p99_ms.median if lv.p99_ms else None,
                    "p99_ms_range": [lv.p99_ms.low, lv.p99_ms.high] if lv.p99_ms else None,
                    "service_rss_mib": lv.rss_mib.median if lv.rss_mib else None,
                    "service_rss_mib_max": lv.rss_max_mib,
                    "failure_kinds": lv.failure_kinds,
                    "shortfall": lv.shortfall(),
                }
                for lv in self.levels
            ],
            "memory_mib_per_1000": round(memory[0], 2) if memory else None,
            "memory_basis": memory[1] if memory else None,
            "text": self.text(),
        }


def holdings(rows: Iterable[dict[str, Any]]) -> list[Holding]:
    """Every variant measured on the lesson's scenario, the most users held first."""
    found = [Holding(v, tuple(lvs)) for v, lvs in levels(rows).items()]
    return sorted(found, key=lambda h: (-(h.held_users or 0), h.variant))


# --- what a sync variant did with the connections beyond its slots ---------------------------


def beyond_slots(h: Holding, network: dict[str, Any] | None = None) -> str | None:
    """What the levels whose users outnumbered the variant's slots show about the rest: how
    many were refused, reset, timed out, and how long those answered had waited; with the
    manifest's ``network`` facts, what the kernel did past the listen backlog. None for a
    variant whose slots only memory bounds."""
    over = [lv for lv in h.levels
            if lv.slot_ceiling_rps and lv.users > lv.slot_ceiling_rps * _wait_s()]  # fmt: skip
    if not over:
        return None
    parts = []
    for lv in over:
        waited = f", the answered waited p50 {_seconds(lv.p50_ms)}" if lv.p50_ms else ""
        parts.append(f"{lv.users:,} users: {lv.ok_rps.median:,.0f} rps answered{waited}, "
                     f"about {lv.unanswered:,} users without an answer coming; failed: "
                     f"{failures.text(lv.failure_kinds)}")  # fmt: skip
    refused = sum(lv.failure_kinds.get("refused", 0) for lv in over)
    if refused:
        fate = f"{refused:,} connections were refused"
    else:
        fate = ("none was refused: the kernel completed their handshakes and they waited in the "
                "listen backlog (or in the server's own queue) for a slot, until the client gave "
                "up (timed out) or the run ended")  # fmt: skip
    note = next((lv.slot_note for lv in over if lv.slot_note), "its slots")
    text = f"{h.variant} ({note.split(' ÷ ')[0]}): {fate}. " + "; ".join(parts) + "."
    return text + _overflow(over, network or {})


def _overflow(over: list[Level], network: dict[str, Any]) -> str:
    """What the kernel does with handshakes past a full listen backlog, where users exceeded
    it: by ``tcp_abort_on_overflow``, drop them (the client retries) or reset them."""
    somaxconn, abort = network.get("somaxconn"), network.get("tcp_abort_on_overflow")
    cap = min(BACKLOG, somaxconn) if somaxconn else BACKLOG
    past = [lv.users for lv in over if lv.users > cap]
    if not past or abort is None:
        return ""
    done = ("reset them (tcp_abort_on_overflow = 1): refused, to the client" if abort else
            "dropped the last step of their handshakes instead of refusing them "
            "(tcp_abort_on_overflow = 0), and the clients kept retrying")  # fmt: skip
    return (f" Past the listen backlog ({cap:,} connections, at {past[0]:,} users and more), "
            f"the kernel {done}.")  # fmt: skip


def _wait_s() -> float:
    return get_scenario(SCENARIO).wait_ms / 1000


# --- the report's section -------------------------------------------------------------------


def intro(manifest: dict[str, Any]) -> str:
    network = manifest.get("network") or {}
    somaxconn = network.get("somaxconn")
    cap = (f"the kernel caps each at net.core.somaxconn = {somaxconn:,}" if somaxconn
           else "the kernel's net.core.somaxconn caps each (not recorded)")  # fmt: skip
    return (
        "Each user holds one request at a time on /io/sleep?ms=1000: a one-second wait that no "
        "pool caps (asyncio.sleep in async handlers, time.sleep in sync ones, gevent's sleep "
        "under gevent, a timer in Node, a parked goroutine in Go), so 1,000 users are 1,000 "
        "open connections asking about 1,000 requests a second. A variant holds a user count "
        "when fewer than 1% of its requests failed, their p99 stayed under 2 s and it answered "
        "at least users ÷ 2 s a second (in a closed loop, users still waiting when the window "
        "closed show up only there): the medians of the repetitions, with their range. Memory "
        "is the service's resident memory, all its processes, the mean over the window. Every "
        "server here listens with a backlog of 2,048 connections (gunicorn's, uvicorn's, and "
        f"the Node and Go services' own); {cap}."
    )


def _table(found: list[Holding]) -> Table:
    rows = []
    for h in found:
        for lv in h.levels:
            verdict = "held" if lv.held else ("not judged" if not lv.judged else "not held")
            if lv.runs > 1 and 0 < lv.held_runs < lv.runs:
                verdict += f" ({lv.held_runs} of {lv.runs} runs held)"
            rss = _range(lv.rss_mib, lambda v: f"{v:,.0f}") if lv.rss_mib else "-"
            peak = f"{lv.rss_max_mib:,.0f}" if lv.rss_max_mib is not None else "-"
            rows.append([h.variant, f"{lv.users:,}", verdict,
                         _range(lv.ok_rps, lambda v: f"{v:,.0f}"),
                         _range(lv.p99_ms, _seconds) if lv.p99_ms else "-",
                         _range(lv.error_rate, lambda v: f"{v:.2%}"),
                         failures.text(lv.failure_kinds) if lv.failure_kinds else "-",
                         rss, peak, lv.shortfall() or "-"])  # fmt: skip
    headers = ["variant", "users", "verdict", "successful rps", "p99", "errors",
               "failures by kind", "memory MiB (mean)", "peak MiB",
               "below 90% of the ceiling because"]  # fmt: skip
    return Table(headers, rows)


def section(
    rows: list[dict[str, Any]], manifest: dict[str, Any], charts_dir: Path
) -> tuple[list[Block], list[Path], list[Holding]]:
    """The lesson's blocks, its slide and its verdicts; nothing without its scenario's runs."""
    found = holdings(rows)
    if not found:
        return [], [], []
    title = f"{TITLE}: the most concurrent users each variant held (p99 < 2 s, errors < 1%)"
    bars = []
    for h in found:
        memory = h.memory_per_thousand()
        growth = memory is not None and memory[1].startswith("growth")
        bars.append((h.variant, h.held_users, max(lv.users for lv in h.levels), h.judged,
                     memory[0] if memory else None, growth))  # fmt: skip
    charts = connections_chart(bars, title, charts_dir, "connections")
    blocks: list[Block] = [Heading(TITLE), Para(intro(manifest), "note"), Image(charts[0], title)]
    blocks += [Para(f"{TITLE}: {h.text()}", "verdict") for h in found]
    blocks.append(_table(found))
    beyond = [text for h in found if (text := beyond_slots(h, manifest.get("network")))]
    if beyond:
        blocks.append(Heading("Connections beyond the slots", 3))
        blocks += [Para(text, "note") for text in beyond]
    return blocks, charts, found


def verdict_texts(found: list[Holding]) -> list[str]:
    return [f"{TITLE}: {h.text()}" for h in found]
