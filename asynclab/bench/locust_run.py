"""One headless Locust run: the subprocess, its warm-up cut, and the numbers of its final report.

The figures come from ``--json-file``, which Locust writes once, at shutdown, from its final
totals. Its CSV files are rewritten only once a second while the test runs and not again at
the end, so their last rows miss up to a second of requests: counted against the whole
measured window, that read 0.5-4.3% low on 3 s windows here. The CSV and HTML files stay in
``runs/`` for people.

Locust counts a failed request in its ``num_requests`` too, so ``rps`` is every answer per
second and ``ok_rps`` the successful ones: a service answering errors fast must not look fast.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from asynclab.bench.failures import by_kind
from asynclab.bench.sampler import CpuSampler
from asynclab.bench.scenarios import Scenario
from asynclab.openfiles import raise_soft_limit

InfraCpu = tuple[tuple[str, float], ...]
# Locust appends ".json" to the --json-file it is given.
FINAL_STATS = "locust_final"


@dataclass(frozen=True)
class LoadSpec:
    """What to run, against what, and where the generator may run."""

    scenario: Scenario
    host: str
    users: int
    warmup_s: float
    duration_s: float
    out_dir: Path
    taskset: tuple[str, ...] = ()
    processes: int = 1
    service_pid: int | None = None
    env: tuple[tuple[str, str], ...] = ()
    infra_pids: tuple[tuple[str, int], ...] = ()  # sampler.infra_pids(lab manifest)
    service_cpus: tuple[int, ...] = ()  # the CPUs the service is pinned to (native lab)


@dataclass(frozen=True)
class LoadResult:
    requests: int
    failures: int
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    window_s: float
    generator_cpu: float | None  # share of the generator's CPU budget, 0..1
    generator_cpu_s: float | None
    service_cpu_s: float | None
    returncode: int
    infra_cpu: InfraCpu = ()  # (name, cores) of Postgres and the upstream over the window
    service_cpus_busy: float | None = None  # share of the service CPUs busy with anything
    # The service tree's resident memory over the window, MiB (sampler.tree_resident_bytes).
    service_rss_mib: float | None = None  # the mean of the samples
    service_rss_mib_max: float | None = None  # the highest sample
    # The window's failures by kind (failures.by_kind); None where Locust recorded no errors
    # (runs of a Locust support older than the record).
    failure_kinds: dict[str, int] | None = None

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 1.0

    @property
    def ok_rps(self) -> float:
        return (self.requests - self.failures) / self.window_s


class RunFailed(RuntimeError):
    pass


class Generator(Protocol):
    """Where Locust runs when not as a child of this process: compose mode's container
    (``asynclab.bench.compose_lab.ContainerGenerator``)."""

    def command(self, spec: LoadSpec) -> list[str]:
        """The command that runs ``locust_command`` of ``spec`` there."""
        ...

    def pid(self) -> int | None:
        """The generator's root process on this machine, once it can be sampled; else None."""
        ...

    def stop(self) -> None:
        """Make sure nothing of the run is left (called after every run)."""
        ...


def locust_command(spec: LoadSpec, python: str = sys.executable) -> list[str]:
    out = spec.out_dir
    s = spec.scenario
    cmd = [
        *spec.taskset, python, "-m", "locust",
        "-f", s.locustfile, s.user_class,
        "--headless", "--only-summary",
        "-u", str(spec.users), "-r", str(spec.users),
        # Locust takes whole seconds only ("2.5s" is refused); the measured window is read
        # from the events file, so rounding up only lengthens the run.
        "-t", f"{math.ceil(spec.warmup_s + spec.duration_s)}s",
        "-H", spec.host,
        "--csv", str(out / "locust"), "--html", str(out / "locust.html"),
        "--json-file", str(out / FINAL_STATS),
        "--logfile", str(out / "locust.log"),
        "--exit-code-on-error", "0",
        "--warmup", f"{spec.warmup_s:g}", "--events-file", str(out / "events.json"),
        *s.args,
    ]  # fmt: skip
    if spec.processes > 1:
        cmd += ["--processes", str(spec.processes)]
    return cmd


@dataclass(frozen=True)
class FinalStats:
    """Locust's totals over every request name, as its "Aggregated" row computes them."""

    requests: int
    failures: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


def percentile(response_times: dict[int, int], counted: int, percent: float) -> int:
    """Locust's own rule (``locust.stats.calculate_response_time_percentile``): the smallest
    recorded time that at least ``percent`` of the ``counted`` requests finished within.

    Written out here because importing ``locust`` monkey-patches this process with gevent.
    ``percentile({10: 3, 20: 1}, 4, 0.5) == 10``.
    """
    wanted = int(counted * percent)
    processed = 0
    for time_ms in sorted(response_times, reverse=True):
        processed += response_times[time_ms]
        if counted - processed <= wanted:
            return time_ms
    return 0


def read_final_stats(path: Path) -> FinalStats:
    """The totals of Locust's ``--json-file``: one entry per (request name, method)."""
    try:
        entries: list[dict[str, Any]] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RunFailed(f"cannot read Locust's final statistics {path}: {exc}") from exc
    requests = sum(int(e["num_requests"]) for e in entries)
    failures = sum(int(e["num_failures"]) for e in entries)
    timed = requests - sum(int(e.get("num_none_requests") or 0) for e in entries)
    times: dict[int, int] = {}
    for entry in entries:
        # JSON object keys are strings; Locust's are the rounded milliseconds as integers.
        for key, count in entry["response_times"].items():
            times[int(float(key))] = times.get(int(float(key)), 0) + int(count)

    def pct(percent: float) -> float | None:
        return float(percentile(times, timed, percent)) if timed > 0 else None

    return FinalStats(requests, failures, pct(0.5), pct(0.95), pct(0.99))


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    # Locust's --processes forks its workers: only the process group reaches them all.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
    _signal_group(proc, signal.SIGKILL)  # workers the master left behind


def run_locust(
    spec: LoadSpec, cwd: Path, generator_cpus: int, generator: Generator | None = None
) -> LoadResult:
    """Run Locust to the end and return the measured window's figures.

    With ``generator``, Locust runs where it says (a container) and its CPU is sampled from the
    process it names, or recorded as null when it names none. Ctrl-C (KeyboardInterrupt) stops
    Locust, then propagates.
    """
    spec.out_dir.mkdir(parents=True, exist_ok=True)
    cmd = locust_command(spec) if generator is None else generator.command(spec)
    (spec.out_dir / "command.txt").write_text(" ".join(cmd) + "\n")
    timeout = spec.warmup_s + spec.duration_s + 60
    raise_soft_limit()  # a socket per user, inherited by Locust (asynclab/openfiles.py)
    with (spec.out_dir / "stdout.txt").open("wb") as output:
        env = {**os.environ, **dict(spec.env)}
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL if generator else None, start_new_session=True,
        )  # fmt: skip
        pids = dict(spec.infra_pids)
        if generator is None:
            pids["generator"] = proc.pid
        if spec.service_pid:
            pids["service"] = spec.service_pid
        try:
            with CpuSampler(pids, cpus=spec.service_cpus, memory=("service",)) as sampler:
                if generator is None:
                    proc.wait(timeout=timeout)
                else:
                    _wait_watching(proc, generator, sampler, timeout)
        finally:
            _terminate(proc)
            if generator is not None:
                generator.stop()
    return _result(spec, sampler, proc.returncode, generator_cpus)


def _wait_watching(
    proc: subprocess.Popen[bytes], generator: Generator, sampler: CpuSampler, timeout: float
) -> None:
    """Wait for ``proc``; meanwhile hand the generator's process to the sampler once it exists
    (a container starts a moment after its command). The window is cut after the warm-up, so
    a sampler that starts watching late still spans it."""
    deadline = time.monotonic() + timeout
    watching = False
    while proc.poll() is None:
        if time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(proc.args, timeout)
        if not watching:
            pid = generator.pid()
            if pid is not None:
                sampler.watch("generator", pid)
                watching = True
        time.sleep(0.25)


def _result(spec: LoadSpec, sampler: CpuSampler, code: int, generator_cpus: int) -> LoadResult:
    stats_file = spec.out_dir / f"{FINAL_STATS}.json"
    if not stats_file.exists():
        tail = (spec.out_dir / "stdout.txt").read_text(errors="replace")[-2000:]
        raise RunFailed(f"Locust wrote no statistics (exit {code}):\n{tail}")
    final = read_final_stats(stats_file)
    events_file = spec.out_dir / "events.json"
    events = json.loads(events_file.read_text()) if events_file.exists() else {}
    if "measure_start" not in events or "measure_end" not in events:
        # Without both marks the window is a guess and the warm-up may not have been cut:
        # any throughput computed from it would be wrong.
        raise RunFailed(
            f"Locust recorded no measured window (exit {code}; {events_file} has "
            f"{sorted(events) or 'nothing'}, needs measure_start and measure_end)"
        )
    start, end = float(events["measure_start"]), float(events["measure_end"])
    window = max(end - start, 1e-9)
    gen = sampler.usage("generator", start, end)
    svc = sampler.usage("service", start, end)
    infra = tuple(
        (name, round(cores, 4))
        for name, _ in spec.infra_pids
        if (cores := sampler.cores(name, start, end)) is not None
    )
    rss = sampler.resident_mib("service", start, end)
    return LoadResult(
        requests=final.requests,
        failures=final.failures,
        rps=final.requests / window,
        p50_ms=final.p50_ms,
        p95_ms=final.p95_ms,
        p99_ms=final.p99_ms,
        window_s=window,
        generator_cpu=(gen[0] / gen[1] / generator_cpus) if gen else None,
        generator_cpu_s=gen[0] if gen else None,
        service_cpu_s=svc[0] / svc[1] * window if svc else None,
        returncode=code,
        infra_cpu=infra,
        service_cpus_busy=sampler.cpus_busy(start, end),
        service_rss_mib=rss[0] if rss else None,
        service_rss_mib_max=rss[1] if rss else None,
        failure_kinds=by_kind(events["failures"]) if "failures" in events else None,
    )
