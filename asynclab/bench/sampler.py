"""CPU use of whole process trees (the generator, the service, Postgres and the upstream), and
of the service CPUs as a whole, sampled in the background; and the resident memory of the trees
named in ``memory`` (the service's), sampled alongside.

A run's measured window is only known afterwards (Locust reports when its warm-up ended), so
the sampler keeps a time series and ``usage(name, start, end)`` reads the span from it. Times
are ``time.monotonic()``: every process of the machine shares that clock (Locust writes its
window with it), and a step of the system clock, which moves ``time.time()``, leaves it alone.

Resident memory of a tree counts each page once, as far as the kernel's per-process figures
allow (:func:`tree_resident_bytes`): the plain sum of every process' RSS counts the pages that
gunicorn's forked workers share (the interpreter, libraries, what the arbiter loaded) once per
worker, and would charge a multi-process service for memory it does not hold.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import psutil

# Postgres (its postmaster, whose tree holds every backend) and the upstream are not pinned:
# they share the machine's cores with everything else and their CPU grows with throughput.
INFRA = ("postgres", "upstream")
# The name under which the sampler records the busy time of the CPUs it is given (``cpus``):
# with the service's own CPU, it tells a service that ran out of cores from one whose cores
# other work took (another lab on a shared machine, unpinned Postgres).
CPUS = "@cpus"


def infra_pids(lab_manifest: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
    """``(("postgres", pid), ("upstream", pid))`` from a running lab's ``lab.json``."""
    processes = lab_manifest.get("processes", {})
    found = []
    for name in INFRA:
        pid = processes.get(name, {}).get("pid")
        if isinstance(pid, int) and pid > 0:
            found.append((name, pid))
    return tuple(found)


def busy_cpu_seconds(cpus: tuple[int, ...]) -> float | None:
    """Seconds the CPUs ``cpus`` spent on anything but idling, since boot; None if unknown."""
    try:
        per_cpu = psutil.cpu_times(percpu=True)
        times = [per_cpu[i] for i in cpus]
    except (psutil.Error, IndexError, OSError):
        return None
    # iowait is idle time spent waiting for a disk: the CPU was free to run anything else.
    return sum(t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)
               + getattr(t, "steal", 0.0) for t in times)  # fmt: skip


def tree_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process and all its descendants; None if it is gone."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


MIB = 1024 * 1024
# Resident memory is read at most this often (its samples are a subset of the CPU ones).
MEMORY_INTERVAL_S = 1.0


def tree_resident_bytes(pid: int) -> float | None:
    """Resident memory of a process and its descendants, shared pages counted once (bytes).

    Every process' private pages (USS), plus the shared pages of the process that has the most
    (RSS - USS): exact for one process (its RSS); for forked workers, whose shared pages are
    mostly the same ones, a lower bound of the pages the tree holds at all, while the sum of
    their RSS is an upper bound that counts a shared page once per worker. PSS would split
    a shared page among every process that maps it, the lab's other services and the bench
    included, so a service's figure would depend on what else runs. None if the tree is gone
    or its memory may not be read (never a partial sum).
    """
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    private = 0
    shared = 0
    for proc in procs:
        try:
            # USS from /proc/<pid>/smaps_rollup; RSS from statm, a moment apart: never below 0.
            info = proc.memory_full_info()
        except psutil.AccessDenied:
            return None
        except psutil.Error:
            continue  # it exited since the tree was listed: it holds nothing now
        private += info.uss
        shared = max(shared, info.rss - info.uss)
    return float(private + shared)


class CpuSampler:
    """Samples ``{name: pid}`` trees every ``interval`` seconds while in its ``with`` block, the
    busy time of ``cpus`` as :data:`CPUS`, and the resident memory of the trees named in
    ``memory``."""

    def __init__(
        self,
        pids: dict[str, int],
        interval: float = 0.25,
        cpus: tuple[int, ...] = (),
        memory: tuple[str, ...] = (),
    ) -> None:
        self.pids = dict(pids)
        self.cpus = cpus
        self.memory = memory
        self.interval = interval
        self.times: list[float] = []
        self.samples: list[dict[str, float | None]] = []
        self.resident_bytes: list[dict[str, float | None]] = []  # beside ``samples``
        self._memory_at = -math.inf  # when memory was last read: the first sample reads it
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="cpu-sampler", daemon=True)

    def watch(self, name: str, pid: int) -> None:
        """Sample ``pid`` as ``name`` from now on (found after the start: a container's)."""
        with self._lock:
            self.pids[name] = pid

    def _sample(self) -> None:
        now = time.monotonic()  # the clock of every window it is read over
        with self._lock:
            pids = list(self.pids.items())
        sample = {name: tree_cpu_seconds(pid) for name, pid in pids}
        if self.cpus:
            sample[CPUS] = busy_cpu_seconds(self.cpus)
        held: dict[str, float | None] = {}
        if self.memory and now - self._memory_at >= MEMORY_INTERVAL_S:
            # Reading a tree's memory (smaps_rollup of every process: milliseconds, on no
            # pinned CPU) costs far more than its CPU times, and more for more processes:
            # once a second, so that measuring does not charge the multi-process variants.
            self._memory_at = now
            held = {name: tree_resident_bytes(pid) for name, pid in pids if name in self.memory}
        self.samples.append(sample)
        self.resident_bytes.append(held)
        self.times.append(now)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> CpuSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def cpus_busy(self, start: float, end: float) -> float | None:
        """The share of the ``cpus`` busy with anything over the span, 0..1; None untracked."""
        cores = self.cores(CPUS, start, end) if self.cpus else None
        return None if cores is None else min(1.0, cores / len(self.cpus))

    def cores(self, name: str, start: float, end: float) -> float | None:
        """Average CPU use of ``name`` over the span, in cores (1.0 = one core busy)."""
        used = self.usage(name, start, end)
        return used[0] / used[1] if used and used[1] > 0 else None

    def usage(self, name: str, start: float, end: float) -> tuple[float, float] | None:
        """(CPU seconds, wall seconds) of ``name`` between the samples nearest inside the span."""
        points = [
            (t, cpu)
            for t, sample in zip(self.times, self.samples, strict=True)
            if (cpu := sample.get(name)) is not None
        ]
        if not points:
            return None
        ts = [t for t, _ in points]
        first = min(bisect.bisect_left(ts, start), len(points) - 1)
        last = max(bisect.bisect_right(ts, end) - 1, 0)
        if last <= first:
            return None
        (t0, c0), (t1, c1) = points[first], points[last]
        return max(0.0, c1 - c0), t1 - t0

    def resident_mib(self, name: str, start: float, end: float) -> tuple[float, float] | None:
        """(mean, peak) resident memory of ``name`` over the samples inside the span, in MiB;
        None when none of them measured it."""
        held = [
            value
            for t, sample in zip(self.times, self.resident_bytes, strict=True)
            if start <= t <= end and (value := sample.get(name)) is not None
        ]
        if not held:
            return None
        return sum(held) / len(held) / MIB, max(held) / MIB
