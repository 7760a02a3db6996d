"""The workloads the bench can run: which Locust user class, which route, and what bounds it.

``bound`` names the resource a request holds while it waits, which decides its Little's-law
ceiling (see ``ceilings.py``): ``db`` a pooled connection, ``upstream`` an HTTP connection,
``fanout`` several of them, ``blocking`` a whole event loop or worker, ``sleep`` nothing but the
server's own slot (a worker, a thread, a greenlet; none in async handlers), ``cpu`` only CPU time.
``postgres`` is the TechEmpower database tests: each request holds a pooled connection for
round trips whose length nobody sets (it grows with Postgres' own load), so they get no
ceiling rather than a CPU one they never approach.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Bound = Literal["cpu", "db", "upstream", "fanout", "blocking", "sleep", "postgres", "none"]

WAIT_MS = 50
FANOUT_CALLS = 5
QUERIES = 20
# Thousands of connections: each user holds one request of about a second, so that 5,000 users
# ask for 5,000 requests a second at most, within one generator core.
CONNECTIONS_WAIT_MS = 1000


@dataclass(frozen=True)
class Scenario:
    name: str
    locustfile: str
    user_class: str
    path: str
    title: str
    bound: Bound
    wait_ms: int = 0
    calls: int = 1
    args: tuple[str, ...] = field(default=())
    # Commits to Postgres: its figures depend on synchronous_commit, which the report states.
    writes: bool = False

    @property
    def route(self) -> str:
        """The route without its query string, as Locust names it."""
        return self.path.split("?", 1)[0]


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario("cpu_python", "loadtests/cpu.py", "CpuPython", "/cpu/python",
                 "CPU, pure Python (holds the GIL)", "cpu"),
        Scenario("cpu_native", "loadtests/cpu.py", "CpuNative", "/cpu/native",
                 "CPU, PBKDF2 (releases the GIL)", "cpu"),
        Scenario("io_db", "loadtests/io_wait.py", "IoDb", f"/io/db?ms={WAIT_MS}",
                 f"I/O wait in Postgres, {WAIT_MS} ms", "db", WAIT_MS,
                 args=("--ms", str(WAIT_MS))),
        Scenario("io_upstream", "loadtests/io_wait.py", "IoUpstream", f"/io/upstream?ms={WAIT_MS}",
                 f"I/O wait on the upstream, {WAIT_MS} ms", "upstream", WAIT_MS,
                 args=("--ms", str(WAIT_MS))),
        Scenario("io_sleep", "loadtests/io_wait.py", "IoSleep",
                 f"/io/sleep?ms={CONNECTIONS_WAIT_MS}",
                 f"Connections: a {CONNECTIONS_WAIT_MS / 1000:g} s wait with no pool behind it",
                 "sleep", CONNECTIONS_WAIT_MS, args=("--ms", str(CONNECTIONS_WAIT_MS))),
        Scenario("fanout", "loadtests/fanout.py", "Fanout",
                 f"/fanout?calls={FANOUT_CALLS}&ms={WAIT_MS}",
                 f"Fan-out, {FANOUT_CALLS} upstream calls of {WAIT_MS} ms", "fanout", WAIT_MS,
                 FANOUT_CALLS, ("--ms", str(WAIT_MS), "--calls", str(FANOUT_CALLS))),
        Scenario("pitfall", "loadtests/pitfall.py", "PitfallBlocking",
                 f"/pitfall/blocking?ms={WAIT_MS}",
                 f"Blocking sleep of {WAIT_MS} ms in the handler", "blocking", WAIT_MS,
                 args=("--ms", str(WAIT_MS))),
        Scenario("json", "loadtests/techempower.py", "Json", "/json",
                 "TechEmpower json", "cpu"),
        Scenario("plaintext", "loadtests/techempower.py", "Plaintext", "/plaintext",
                 "TechEmpower plaintext", "cpu"),
        Scenario("db", "loadtests/techempower.py", "Db", "/db", "TechEmpower db", "postgres"),
        Scenario("queries", "loadtests/techempower.py", "Queries", f"/queries?queries={QUERIES}",
                 f"TechEmpower queries ({QUERIES})", "postgres", args=("--queries", str(QUERIES))),
        Scenario("updates", "loadtests/techempower.py", "Updates", f"/updates?queries={QUERIES}",
                 f"TechEmpower updates ({QUERIES})", "postgres", args=("--queries", str(QUERIES)),
                 writes=True),
        Scenario("fortunes", "loadtests/techempower.py", "Fortunes", "/fortunes",
                 "TechEmpower fortunes", "postgres"),
        Scenario("mixed", "loadtests/mixed.py", "Mixed", "/", "Mixed realistic profile",
                 "none", WAIT_MS, args=("--ms", str(WAIT_MS)), writes=True),
    ]
}  # fmt: skip


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(
            f"unknown scenario {name!r}; choose from: {', '.join(SCENARIOS)}"
        ) from None
