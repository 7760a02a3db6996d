"""``wrk`` (Debian package): a C generator, as the yardstick for Locust's own numbers."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from asynclab.bench.idle import wait_idle
from asynclab.bench.sampler import CpuSampler

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class WrkResult:
    requests: int
    errors: int
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    window_s: float
    generator_cpu: float | None
    generator_cpu_s: float | None
    service_cpu_s: float | None
    service_cpus_busy: float | None = None  # share of the service CPUs busy with anything
    service_rss_mib: float | None = None  # the service tree's resident memory: window mean
    service_rss_mib_max: float | None = None  # and its highest sample

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 1.0


def available() -> bool:
    return shutil.which("wrk") is not None


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * UNITS[match.group(2)]


def parse(output: str) -> dict[str, float]:
    """Figures of ``wrk --latency`` output: requests, errors, rps, p50/p99 in ms."""
    found: dict[str, float] = {}
    if m := re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output):
        found["requests"] = float(m.group(1))
        found["window_s"] = _ms(m.group(2) + m.group(3)) / 1000
    if m := re.search(r"Requests/sec:\s+([\d.]+)", output):
        found["rps"] = float(m.group(1))
    for pct in ("50", "99"):
        if m := re.search(rf"^\s+{pct}%\s+([\d.]+(?:us|ms|s|m))\s*$", output, re.M):
            found[f"p{pct}_ms"] = _ms(m.group(1))
    errors = 0.0
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        errors += float(m.group(1))
    if m := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    ):
        errors += sum(float(g) for g in m.groups())
    found["errors"] = errors
    return found


def wrk_seconds(seconds: float) -> str:
    """wrk takes whole seconds only ("0.5s" is a usage error): round up, at least 1 s."""
    return f"{max(1, math.ceil(seconds))}s"


@dataclass(frozen=True)
class WrkTarget:
    url: str
    out_file: Path
    service_pid: int | None = None
    script: Path | None = None  # a wrk Lua script, e.g. one that POSTs a body

    def args(self) -> list[str]:
        return ["-s", str(self.script), self.url] if self.script else [self.url]


def run_wrk(
    url: str,
    connections: int,
    duration_s: float,
    warmup_s: float,
    out_file: Path,
    taskset: tuple[str, ...] = (),
    threads: int = 1,
    service_pid: int | None = None,
    generator_cpus: int = 1,
    script: Path | None = None,
    service_cpus: tuple[int, ...] = (),
) -> WrkResult:
    """Warm up, then measure: two wrk runs, only the second one counts."""
    target = WrkTarget(url, out_file, service_pid, script)
    return run_wrk_together([target], connections, duration_s, warmup_s, taskset, threads,
                            generator_cpus, service_cpus)[0]  # fmt: skip


def run_wrk_together(
    targets: Sequence[WrkTarget],
    connections: int,
    duration_s: float,
    warmup_s: float,
    taskset: tuple[str, ...] = (),
    threads: int = 1,
    generator_cpus: int = 1,
    service_cpus: tuple[int, ...] = (),
) -> list[WrkResult]:
    """``run_wrk`` on several targets at once: one wrk each, warm-ups and windows side by side.

    The measured wrk are started one right after the other, after every warm-up has ended and
    every service is idle, so services that share a CPU share it for the whole window. Each
    result's generator CPU is its own wrk's share.
    """
    threads = max(1, min(threads, connections))
    base = [*taskset, "wrk", "-t", str(threads), "-c", str(connections), "--timeout", "10s"]
    procs: list[subprocess.Popen[str]] = []
    try:
        if warmup_s > 0:
            procs = [subprocess.Popen([*base, "-d", wrk_seconds(warmup_s), *t.args()], text=True,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                     for t in targets]  # fmt: skip
            for proc in procs:
                _, err = proc.communicate()
                if proc.returncode:
                    raise RuntimeError(f"wrk warm-up failed (exit {proc.returncode}): {err}")
        # An earlier wrk (this warm-up, or the caller's previous run) leaves requests queued when
        # it closes its connections: let the services serve them before the window opens.
        for target in targets:
            parts = urlsplit(target.url)
            wait_idle(f"{parts.scheme}://{parts.netloc}")
        cmds = [[*base, "-d", wrk_seconds(duration_s), "--latency", *t.args()] for t in targets]
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for cmd in cmds]  # fmt: skip
        pids = {f"generator{i}": proc.pid for i, proc in enumerate(procs)}
        pids.update({f"service{i}": t.service_pid for i, t in enumerate(targets) if t.service_pid})
        services = tuple(f"service{i}" for i, t in enumerate(targets) if t.service_pid)
        with CpuSampler(pids, cpus=service_cpus, memory=services) as sampler:
            start = time.monotonic()  # the sampler's clock
            outputs = [proc.communicate(timeout=math.ceil(duration_s) + 30)[0] for proc in procs]
            end = time.monotonic()
    except BaseException:
        for proc in procs:
            proc.kill()
            proc.wait()
        raise
    results = []
    for i, (target, cmd, proc, output) in enumerate(
        zip(targets, cmds, procs, outputs, strict=True)
    ):
        target.out_file.parent.mkdir(parents=True, exist_ok=True)
        target.out_file.write_text(" ".join(cmd) + "\n\n" + output)
        found = parse(output)
        if "rps" not in found:
            raise RuntimeError(f"wrk failed (exit {proc.returncode}): {output[-1000:]}")
        gen = sampler.usage(f"generator{i}", start, end)
        svc = sampler.usage(f"service{i}", start, end)
        rss = sampler.resident_mib(f"service{i}", start, end)
        window = found.get("window_s", duration_s)
        results.append(WrkResult(
            requests=int(found.get("requests", 0)),
            errors=int(found["errors"]),
            rps=found["rps"],
            p50_ms=found.get("p50_ms"),
            p99_ms=found.get("p99_ms"),
            window_s=window,
            generator_cpu=(gen[0] / gen[1] / generator_cpus) if gen else None,
            generator_cpu_s=gen[0] if gen else None,
            service_cpu_s=svc[0] / svc[1] * window if svc else None,
            service_cpus_busy=sampler.cpus_busy(start, end),
            service_rss_mib=rss[0] if rss else None,
            service_rss_mib_max=rss[1] if rss else None,
        ))  # fmt: skip
    return results
