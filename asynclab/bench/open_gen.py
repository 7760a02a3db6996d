"""A load generator whose requests start on a schedule, not when the previous answer came back.

Locust's users, and wrk's connections, are closed loops: each waits for its answer before it
sends again, so a slow service slows the load down and the requests that would have waited
are never sent (coordinated omission). Here requests start at intended times fixed before the
run, whatever happened to those before them, and each latency counts from its *intended*
start, as wrk2 measures it: a request the generator itself sent late is charged its lateness,
never forgiven it. How late the generator was (``lag``) is recorded beside, so a tail that is
the generator's own can be told from the service's.

The same program runs the closed loop it is compared with (``--users``): that many users each
sending as soon as the previous answer came back, latency from the actual start. Only the loop
differs, never the HTTP client, the process or its CPU.

Bounded in count and time: at most ``--max-in-flight`` requests at once (a request that finds
none free waits, its latency still counted from its intended time, and the run records that the
cap was reached), every request gives up after ``--timeout`` seconds, and the run stops at the
latest ``--timeout`` + 1 s after the measured window. Every latency of the window is written
out (``measured``), so percentiles are exact: no histogram buckets.

Arrivals are ``poisson`` (independent users: random gaps, exactly ``rate x window`` of them in
the window, so the offered rate is exact) or ``uniform`` (evenly spaced, wrk2's plan).

    python -m asynclab.bench.open_gen --url 'http://127.0.0.1:8002/io/db?ms=50' \\
        --expect '{"ms": 50}' --rate 300 --warmup 5 --duration 15 --out open.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp

Arrivals = Literal["poisson", "uniform"]
# gunicorn's and uvicorn's listen backlog (variants.BACKLOG): more connections at once would
# only wait in the kernel, and a service that needs them is far past its ceiling anyway.
MAX_IN_FLIGHT = 2048
TIMEOUT_S = 10.0
# Where the first intended start lies after the program is ready: its sleep, not a burst.
LEAD_S = 0.05


@dataclass(frozen=True)
class Plan:
    url: str
    warmup_s: float
    duration_s: float
    rate: float | None = None  # open loop: requests a second
    users: int | None = None  # closed loop: users
    arrivals: Arrivals = "poisson"
    seed: int = 1
    timeout_s: float = TIMEOUT_S
    max_in_flight: int = MAX_IN_FLIGHT
    expect: Any = None  # the JSON body every answer must carry; None: any 200 answer

    @property
    def mode(self) -> Literal["open", "closed"]:
        return "open" if self.rate is not None else "closed"


def segment(start: float, span: float, rate: float, arrivals: Arrivals, rng: random.Random
            ) -> list[float]:  # fmt: skip
    """Intended starts in ``[start, start + span)``: exactly ``round(rate x span)`` of them.

    Poisson arrivals given their count are that many uniform points, sorted: the gaps of
    independent users, without the count's own noise (±√n, 1.8% at 3,000) in the offered rate.
    """
    n = round(rate * span)
    if arrivals == "uniform":
        return [start + i * span / n for i in range(n)]
    return sorted(start + rng.random() * span for _ in range(n))


def schedule(plan: Plan, start: float) -> Iterator[tuple[float, bool]]:
    """(intended start, measured) of every request: the warm-up, the window, then as long a
    tail as a request of the window may take, so the window's last requests meet the load its
    first ones met."""
    assert plan.rate is not None
    rng = random.Random(plan.seed)
    window = start + plan.warmup_s
    for at in segment(start, plan.warmup_s, plan.rate, plan.arrivals, rng):
        yield at, False
    for at in segment(window, plan.duration_s, plan.rate, plan.arrivals, rng):
        yield at, True
    tail = segment(window + plan.duration_s, plan.timeout_s + 1, plan.rate, plan.arrivals, rng)
    for at in tail:
        yield at, False


@dataclass
class Record:
    """What the run saw: the window's requests one by one, and counts over the window."""

    window: tuple[float, float]
    intended: list[float] = field(default_factory=list)  # seconds after the window opened
    lag_ms: list[float] = field(default_factory=list)  # actual start - intended start
    latency_ms: list[float] = field(default_factory=list)  # answer - intended start
    ok: list[bool] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)  # kind -> measured requests
    sent_in_window: int = 0  # requests the generator started inside the window
    done_in_window: int = 0  # answers that came back inside the window, whoever sent them
    ok_in_window: int = 0  # ... and were right
    capped: int = 0  # requests that waited for a free place (``max_in_flight``)
    most_in_flight: int = 0

    def to_json(self, plan: Plan) -> dict[str, Any]:
        return {
            "mode": plan.mode, "url": plan.url, "rate": plan.rate, "users": plan.users,
            "arrivals": plan.arrivals if plan.mode == "open" else None, "seed": plan.seed,
            "warmup_s": plan.warmup_s, "duration_s": plan.duration_s,
            "timeout_s": plan.timeout_s, "max_in_flight": plan.max_in_flight,
            "window": list(self.window),
            "sent_in_window": self.sent_in_window, "done_in_window": self.done_in_window,
            "ok_in_window": self.ok_in_window, "capped": self.capped,
            "most_in_flight": self.most_in_flight, "errors": dict(self.errors),
            "measured": {
                "intended_s": [round(x, 6) for x in self.intended],
                "lag_ms": [round(x, 3) for x in self.lag_ms],
                "latency_ms": [round(x, 3) for x in self.latency_ms],
                "ok": [int(x) for x in self.ok],
            },
        }  # fmt: skip


class Client:
    """One GET of ``plan.url``: its answer time and whether it was right."""

    def __init__(self, plan: Plan, session: aiohttp.ClientSession, record: Record) -> None:
        self.plan, self.session, self.record = plan, session, record
        self.in_flight = 0

    async def get(self) -> tuple[float, str | None]:
        """(monotonic end, error kind or None)."""
        self.in_flight += 1
        self.record.most_in_flight = max(self.record.most_in_flight, self.in_flight)
        try:
            async with self.session.get(self.plan.url) as resp:
                body = await resp.read()
            if resp.status != 200:
                return time.monotonic(), f"HTTP {resp.status}"
            if self.plan.expect is not None and _json(body) != self.plan.expect:
                return time.monotonic(), "unexpected body"
            return time.monotonic(), None
        except TimeoutError:
            return time.monotonic(), "timeout"
        except aiohttp.ClientError as exc:
            return time.monotonic(), type(exc).__name__
        finally:
            self.in_flight -= 1

    def count(self, started: float, end: float, error: str | None) -> None:
        start, stop = self.record.window
        if start <= started < stop:
            self.record.sent_in_window += 1
        if start <= end < stop:
            self.record.done_in_window += 1
            self.record.ok_in_window += error is None

    def measure(self, intended: float, started: float, end: float, error: str | None) -> None:
        r = self.record
        r.intended.append(intended - r.window[0])
        r.lag_ms.append((started - intended) * 1000)
        r.latency_ms.append((end - intended) * 1000)
        r.ok.append(error is None)
        if error is not None:
            r.errors[error] += 1


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


async def run_open(plan: Plan, client: Client) -> None:
    record = client.record
    start = record.window[0] - plan.warmup_s
    pending: dict[int, float] = {}  # the window's requests not answered yet: index -> intended
    tasks: set[asyncio.Task[None]] = set()
    places = asyncio.Semaphore(plan.max_in_flight)

    async def one(index: int, at: float, measured: bool) -> None:
        if places.locked():
            record.capped += 1
        async with places:
            started = time.monotonic()
            end, error = await client.get()
        client.count(started, end, error)
        if measured:
            client.measure(at, started, end, error)
            del pending[index]

    deadline = record.window[1] + plan.timeout_s + 1
    for index, (at, measured) in enumerate(schedule(plan, start)):
        if at >= record.window[1] and not pending:
            break  # every request of the window has its answer
        delay = at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if measured:
            pending[index] = at
        task = asyncio.create_task(one(index, at, measured))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    while pending and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await _cancel(tasks)
    for at in pending.values():  # no answer by the deadline: as late as the run could see
        client.measure(at, at, deadline, "unfinished")


async def run_closed(plan: Plan, client: Client) -> None:
    assert plan.users is not None
    record = client.record

    async def user() -> None:
        while (started := time.monotonic()) < record.window[1]:
            end, error = await client.get()
            client.count(started, end, error)
            if started >= record.window[0]:
                client.measure(started, started, end, error)

    tasks = [asyncio.create_task(user()) for _ in range(plan.users)]
    done, rest = await asyncio.wait(tasks, timeout=record.window[1] + plan.timeout_s + 1
                                    - time.monotonic())  # fmt: skip
    await _cancel(rest)
    for task in done:
        task.result()  # a bug in here must not pass for a quiet run


async def _cancel(tasks: set[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def run(plan: Plan) -> Record:
    limit = plan.max_in_flight if plan.mode == "open" else plan.users or 1
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=plan.timeout_s)
    # trust_env stays False (aiohttp's default): no proxy from the environment sees loopback.
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.monotonic() + LEAD_S
        window = (start + plan.warmup_s, start + plan.warmup_s + plan.duration_s)
        record = Record(window)
        client = Client(plan, session, record)
        if plan.mode == "open":
            await run_open(plan, client)
        else:
            await asyncio.sleep(LEAD_S)
            await run_closed(plan, client)
    return record


def _loop_factory() -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return None
    return uvloop.new_event_loop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    loop = parser.add_mutually_exclusive_group(required=True)
    loop.add_argument("--rate", type=float, help="open loop: requests a second")
    loop.add_argument("--users", type=int, help="closed loop: users")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds, not measured")
    parser.add_argument("--duration", type=float, required=True, help="measured seconds")
    parser.add_argument("--arrivals", choices=["poisson", "uniform"], default="poisson")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S)
    parser.add_argument("--max-in-flight", type=int, default=MAX_IN_FLIGHT)
    parser.add_argument("--expect", help="the JSON body every answer must carry")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if (args.rate is not None and args.rate <= 0) or (args.users is not None and args.users < 1):
        parser.error("--rate must be above 0 and --users at least 1")
    if args.duration <= 0 or args.warmup < 0:
        parser.error("--duration must be above 0 and --warmup at least 0")
    plan = Plan(
        url=args.url, warmup_s=args.warmup, duration_s=args.duration, rate=args.rate,
        users=args.users, arrivals=args.arrivals, seed=args.seed, timeout_s=args.timeout,
        max_in_flight=args.max_in_flight,
        expect=json.loads(args.expect) if args.expect else None,
    )  # fmt: skip
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        record = runner.run(run(plan))
    args.out.write_text(json.dumps(record.to_json(plan)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
