"""One Locust run as the bench makes it: the warm-up is cut from the figures, Postgres' and the
upstream's CPU is sampled, and nothing is left running or guessed."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from helpers import free_port, poll_until

from asynclab.bench.ceilings import slot_ceiling
from asynclab.bench.locust_run import (
    FINAL_STATS,
    LoadSpec,
    RunFailed,
    _result,
    _terminate,
    percentile,
    read_final_stats,
    run_locust,
)
from asynclab.bench.sampler import CpuSampler, infra_pids, tree_resident_bytes
from asynclab.bench.scenarios import SCENARIOS
from asynclab.lab import Lab
from asynclab.settings import ROOT
from asynclab.variants import get_variant
from tests.observability.scrape import value

USERS = 4


@pytest.mark.slow
def test_warmup_is_cut_from_the_counted_requests(lab: Lab, tmp_path: Path) -> None:
    manifest = lab.manifest()
    assert manifest is not None
    scenario = SCENARIOS["io_db"]
    variant = get_variant(manifest["variants"]["fastapi"]["name"])
    url = lab.settings.service_url("fastapi")
    served_before = value(url, "http_requests_total", route=scenario.route)
    spec = LoadSpec(
        scenario, url, USERS, warmup_s=2, duration_s=3, out_dir=tmp_path,
        service_pid=manifest["processes"]["fastapi"]["pid"],
        env=(("LOCUST_METRICS_PORT", str(free_port())),),
        infra_pids=infra_pids(manifest),
    )  # fmt: skip
    result = run_locust(spec, ROOT, generator_cpus=1)

    # Every request holds a connection for at least 50 ms: Little's law caps what can complete
    # inside the measured window, however busy the machine.
    ceiling = slot_ceiling(scenario, variant, lab.settings, USERS)
    assert ceiling is not None
    assert result.failures == 0
    assert 0 < result.requests <= ceiling.rps * result.window_s + USERS
    assert result.ok_rps == pytest.approx(result.requests / result.window_s)

    # The service answered the warm-up's requests too. Without the cut, Locust's count would
    # miss only those still in flight when it stopped (at most one per user).
    def served() -> float:
        return value(url, "http_requests_total", route=scenario.route) - served_before

    poll_until(lambda: served() > result.requests + USERS, "the warm-up's requests to be left out")
    assert result.returncode == 0
    assert {name for name, _ in result.infra_cpu} == {"postgres", "upstream"}
    assert all(cores >= 0 for _, cores in result.infra_cpu)
    assert result.service_rss_mib is not None
    assert result.service_rss_mib_max is not None
    assert 0 < result.service_rss_mib <= result.service_rss_mib_max


def entry(name: str, times: dict[int, int], failures: int = 0) -> dict[str, object]:
    """One entry of Locust's --json-file (its keys are strings, as JSON makes them)."""
    return {
        "name": name, "method": "GET", "num_requests": sum(times.values()),
        "num_none_requests": 0, "num_failures": failures,
        "response_times": {str(k): v for k, v in times.items()},
    }  # fmt: skip


def test_a_run_without_its_measured_window_fails(tmp_path: Path) -> None:
    # Locust wrote statistics but no measure_start/measure_end: any rate would be a guess.
    final = [entry("/json", {5: 90, 9: 9, 12: 1})]
    (tmp_path / f"{FINAL_STATS}.json").write_text(json.dumps(final))
    spec = LoadSpec(SCENARIOS["json"], "http://127.0.0.1:9", 1, 1, 1, tmp_path)
    with CpuSampler({"self": os.getpid()}) as sampler:
        pass
    with pytest.raises(RunFailed, match="no measured window"):
        _result(spec, sampler, 0, 1)


def test_final_stats_add_up_every_request_name(tmp_path: Path) -> None:
    path = tmp_path / "final.json"
    path.write_text(json.dumps([entry("/db", {10: 3, 20: 1}, 1), entry("/json", {1: 4})]))
    final = read_final_stats(path)
    assert (final.requests, final.failures) == (8, 1)
    assert (final.p50_ms, final.p99_ms) == (10, 20)


def test_percentiles_are_locusts_own() -> None:
    # Locust's function, in a process of its own: importing locust monkey-patches with gevent.
    rng = random.Random(7)
    cases = []
    for _ in range(50):
        times = {rng.choice([1, 2, 5, 12, 47, 130, 990, 2100]): rng.randint(1, 40)
                 for _ in range(rng.randint(1, 8))}  # fmt: skip
        cases.append((times, rng.choice([0.5, 0.95, 0.99, 1.0])))
    script = (
        "import json, sys\n"
        "from locust.stats import calculate_response_time_percentile as f\n"
        "cases = json.load(sys.stdin)\n"
        "print(json.dumps([f({int(k): v for k, v in t.items()}, sum(t.values()), p)"
        " for t, p in cases]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], input=json.dumps(cases),
                          capture_output=True, text=True, check=True)  # fmt: skip
    theirs = json.loads(done.stdout)
    ours = [percentile(times, sum(times.values()), p) for times, p in cases]
    assert ours == theirs


def test_unreadable_final_stats_fail_the_run(tmp_path: Path) -> None:
    path = tmp_path / "final.json"
    path.write_text("[{")
    with pytest.raises(RunFailed, match="final statistics"):
        read_final_stats(path)


def test_terminate_stops_the_whole_process_group() -> None:
    # Like Locust's --processes: a parent that forked workers of its own.
    proc = subprocess.Popen(["sh", "-c", "sleep 300 & sleep 300 & wait"],
                            start_new_session=True)  # fmt: skip
    try:
        parent = psutil.Process(proc.pid)
        for _ in range(100):
            children = parent.children()
            if len(children) == 2:
                break
            time.sleep(0.05)
        assert len(children) == 2
        _terminate(proc)
        _, alive = psutil.wait_procs(children, timeout=10)
        assert alive == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_the_sampler_tells_how_busy_the_service_cpus_were() -> None:
    """A CPU kept busy by this test reads as busy, whatever else shares it: the figure that
    tells a service short of cores from one whose cores other work took."""
    cpu = min(os.sched_getaffinity(0))
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        with CpuSampler({}, interval=0.05, cpus=(cpu,)) as sampler:
            spun = 0
            # Spin on this CPU until the sampler has a span of it to read (bounded).
            deadline = time.monotonic() + 30
            while len(sampler.times) < 6 and time.monotonic() < deadline:
                spun += 1
    finally:
        os.sched_setaffinity(0, before)
    busy = sampler.cpus_busy(sampler.times[0], sampler.times[-1])
    assert spun
    assert busy is not None
    assert 0.5 < busy <= 1.0  # this thread alone kept it busy (the GIL lets it spin)
    assert CpuSampler({}).cpus_busy(0, 1) is None  # no CPUs given: nothing to say


def test_resident_memory_counts_each_process_of_a_service_tree(lab: Lab) -> None:
    """flask-sync's arbiter and workers all count, and the pages they share count once: more
    than any one process holds, less than their RSS added up."""
    manifest = lab.manifest()
    assert manifest is not None
    pid = manifest["processes"]["flask"]["pid"]
    root = psutil.Process(pid)
    tree = [root, *root.children(recursive=True)]
    assert len(tree) == 1 + lab.settings.workers  # the arbiter (taskset exec'd into it)
    rss = [proc.memory_info().rss for proc in tree]
    held = tree_resident_bytes(pid)
    assert held is not None
    assert max(rss) < held < sum(rss)

    with CpuSampler({"service": pid}, interval=0.05, memory=("service",)) as sampler:
        poll_until(lambda: len(sampler.times) >= 4, "four samples")
    figures = sampler.resident_mib("service", sampler.times[0], sampler.times[-1])
    assert figures is not None
    mean, peak = figures
    assert max(rss) / 2**20 < mean <= peak
    # Only the samples inside a window count: none there, no figure (never a guess).
    after = sampler.times[-1] + 1
    assert sampler.resident_mib("service", after, after + 1) is None
    assert sampler.resident_mib("generator", sampler.times[0], sampler.times[-1]) is None
