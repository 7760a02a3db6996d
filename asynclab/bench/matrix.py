"""Run a profile's matrix against a lab and record every run as it finishes.

The native lab is started when it is not running (and stopped again at the end); a lab that was
already running, native (with the settings it records) or compose, is used as it is, and the
variants it served are restored afterwards. Ctrl-C or SIGTERM stops the current run, keeps
every finished one, and marks the set ``interrupted``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import subprocess
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from asynclab.bench import external, open_loop, wrk
from asynclab.bench.calibrate import calibrate
from asynclab.bench.ceilings import slot_ceiling
from asynclab.bench.compose_lab import ComposeLab
from asynclab.bench.generator import (
    GeneratorPlan,
    generator_plan,
    pinned_service_cpus,
    service_cpu_count,
)
from asynclab.bench.idle import TIMEOUT_S as IDLE_TIMEOUT_S
from asynclab.bench.idle import wait_idle
from asynclab.bench.interrupt import stop_signals_interrupt
from asynclab.bench.labs import BenchLab, open_lab
from asynclab.bench.locust_run import Generator, LoadSpec, RunFailed, run_locust
from asynclab.bench.manifest import build_manifest
from asynclab.bench.profiles import OPEN_TOOLS, Profile, Run
from asynclab.bench.results import (
    MANIFEST,
    Status,
    Summary,
    new_set_dir,
    point_latest,
    write_json,
)
from asynclab.bench.rows import build_row
from asynclab.bench.sampler import infra_pids
from asynclab.bench.scenarios import get_scenario
from asynclab.bench.startup import Startups, record, record_all
from asynclab.lab import Lab
from asynclab.openfiles import shortfall
from asynclab.procs import LabError, cpu_plan, http_ok, port_in_use
from asynclab.registry import SERVICES, get_service
from asynclab.settings import LabSettings
from asynclab.target_check import Answer, check
from asynclab.variants import Framework, get_variant

Echo = Callable[[str], None]
# Flags the matrix adds to a row: what the row's own figures cannot tell.
NOT_DRAINED = "not_drained"  # a service still answered slowly when the run had to start
SHORT_WARMUP = "short_warmup"  # the median request took longer than the warm-up
# How long a run's Locust waits for the lab's Prometheus to scrape its final figures: five
# scrape intervals (prometheus/prometheus.yml), reached only when Prometheus stops scraping.
FINAL_SCRAPE_S = 10


def _no_wrk_reason(lab: BenchLab) -> str | None:
    """Why wrk cannot measure this lab, or None when it can."""
    if isinstance(lab, ComposeLab):
        return "compose mode: wrk would run outside the lab's network and GENERATOR_CPUS"
    if not wrk.available():
        return "wrk is not installed (Debian package wrk)"
    return None


def overlong_queue(run: Run, settings: LabSettings) -> str | None:
    """Why the requests ``run``'s users leave queued (in the listen backlog, or waiting for a
    thread) would outlast ``wait_idle``; None when they drain within it. 1,000 users on
    flask-sync's 3 workers leave about 1,000 s of one-second sleeps behind, which would be
    served, to clients long gone, during the next runs: a restart drops them."""
    if run.external or run.tool in OPEN_TOOLS:  # no service of the lab; levels are loads
        return None
    ceiling = slot_ceiling(get_scenario(run.scenario), get_variant(run.variant), settings,
                           run.users)  # fmt: skip
    if ceiling is None or ceiling.rps <= 0 or run.users / ceiling.rps <= IDLE_TIMEOUT_S:
        return None
    return (f"its queue ({run.users} users, {ceiling.note}) would take about "
            f"{run.users / ceiling.rps:,.0f} s to drain")  # fmt: skip


class Bench:
    """``label_prefix`` goes before the scenario label of every Locust run (``"act 1: "``);
    ``lab`` replaces the one ``settings`` select (``labs.open_lab``).

    A profile with external targets (``Profile.targets``) loads them too, checked first; with
    no variants of the lab beside them, no lab is started or used (its settings still give the
    generator's CPUs, and in compose mode its containers run the generator)."""

    def __init__(
        self,
        settings: LabSettings,
        profile: Profile,
        results_dir: Path,
        echo: Echo = print,
        *,
        label_prefix: str = "",
        lab: BenchLab | None = None,
    ) -> None:
        self.label_prefix = label_prefix
        self.lab: BenchLab = lab or open_lab(settings, echo)
        # Compose's containers have the engine's limits, not this shell's.
        if not isinstance(self.lab, ComposeLab):
            most = max((u for c in profile.cells if not c.open_loop for u in c.users), default=0)
            why = shortfall(most)
            if why:
                raise LabError(why)
        if profile.wrk_check and isinstance(self.lab, ComposeLab):
            echo(
                "compose mode: skipping the Locust/wrk comparison (wrk would run on this "
                "machine, outside the lab's network and GENERATOR_CPUS)"
            )
            profile = dataclasses.replace(profile, wrk_check=())
        if profile.wrk_check and not wrk.available():
            echo("wrk is not installed (Debian package wrk): skipping the Locust/wrk comparison")
            profile = dataclasses.replace(profile, wrk_check=())
        if isinstance(self.lab, ComposeLab) and any(c.open_loop for c in profile.cells):
            echo("compose mode: skipping the open-loop runs (their generator would run on this "
                 "machine, outside the lab's network and GENERATOR_CPUS)")  # fmt: skip
            profile = profile.without_tool("open").without_tool("closed")
        wrk_cells = sorted({c.scenario for c in profile.cells if "wrk" in c.tools})
        why = _no_wrk_reason(self.lab) if wrk_cells else None
        if why:
            # Locust alone then: a run it cannot drive is flagged generator-bound, never
            # taken for the service's figure.
            echo(f"{why}: {', '.join(wrk_cells)} measured with Locust alone; where Locust is "
                 "outrun, its runs are flagged generator-bound")  # fmt: skip
            profile = profile.without_tool("wrk")
        self.profile = profile
        self.targets = {t.label: t for t in profile.targets}
        self.answers: dict[str, Answer] = {}  # what each target answered before the load
        self.results_dir = results_dir
        self.echo = echo
        self._follow_lab(self.lab.manifest())
        self.started_lab = False
        self.original: dict[str, str] = {}
        self.startups: Startups = {}  # each variant's timed starts (startup.py)
        self.calibration: dict[str, Any] = {}
        self.metrics_port = self._metrics_port()
        self.set_dir: Path | None = None

    # --- the lab ----------------------------------------------------------------------------

    def _follow_lab(self, manifest: dict[str, Any] | None) -> None:
        """Settings, CPU plan and service cores are the lab's, whoever started it."""
        self.settings = self.lab.settings
        self.plan: GeneratorPlan = (
            self.lab.generator_plan()
            if isinstance(self.lab, ComposeLab)
            else generator_plan(self.settings)
        )
        recorded = (manifest or {}).get("service_cpu_count")
        self.service_cpus: int = recorded or service_cpu_count(self.settings)
        # Whose busy time is sampled beside the service's own: a native lab's pinned CPUs.
        native = not isinstance(self.lab, ComposeLab)
        self.service_cpu_ids = pinned_service_cpus(self.settings) if native else ()

    @property
    def uses_lab(self) -> bool:
        """False for external targets alone: then nothing of the lab is started or switched."""
        return bool(self.profile.variants)

    def _ensure_lab(self) -> None:
        if not self.uses_lab:
            return
        if self.lab.manifest() is None:
            if isinstance(self.lab, Lab):
                first = {get_variant(v).framework: v for v in reversed(self.profile.variants)}
                update = {get_service(f).variant_setting: v for f, v in first.items()}
                self.lab = Lab(self.lab.settings.model_copy(update=update), echo=self.echo)
                self.echo("the lab is not running: starting it")
            self.lab.up()
            self.started_lab = True
        manifest = self._serving()
        self._follow_lab(manifest)
        self.original = {f: v["name"] for f, v in manifest.get("variants", {}).items()}
        record_all(self.startups, manifest)

    def _serving(self) -> dict[str, Any]:
        if not self.uses_lab:
            return {}
        manifest = self.lab.manifest()
        if manifest is None:
            raise RuntimeError("the lab stopped during the bench")
        return manifest

    def _generator(self) -> Generator | None:
        """Where Locust runs: compose mode's container, else a child process on this machine."""
        return self.lab.generator if isinstance(self.lab, ComposeLab) else None

    def _use(self, run: Run) -> tuple[str, int | None]:
        """Serve the run's variant on its framework's port; return (the URL the generator loads,
        service pid). An external target's pid is none of ours."""
        if run.external:
            return self.targets[run.variant].url, None
        variant_name = run.variant
        framework: Framework = get_variant(variant_name).framework
        manifest = self._serving()
        if manifest["variants"].get(framework, {}).get("name") != variant_name:
            self.echo(f"switching {framework} to {variant_name}")
            self.lab.switch(framework, variant_name)
            manifest = self._serving()
            record(self.startups, manifest, framework)
        # No pid in compose mode: the service's CPU is then not sampled (null, never a guess).
        process = manifest.get("processes", {}).get(framework) or {}
        return self._load_urls(manifest)[framework], process.get("pid")

    @staticmethod
    def _load_urls(manifest: dict[str, Any]) -> dict[str, str]:
        # Compose: the generator's container reaches the services by their container names.
        urls: dict[str, str] = manifest.get("load_urls") or manifest["urls"]
        return urls

    def _release_lab(self) -> None:
        if self.started_lab:
            self.echo("stopping the lab the bench started")
            self.lab.down()
            return
        with contextlib.suppress(Exception):
            manifest = self._serving()
            for framework, name in self.original.items():
                if manifest["variants"].get(framework, {}).get("name") != name:
                    self.echo(f"restoring {framework} to {name}")
                    self.lab.switch(framework, name)

    # --- the matrix -------------------------------------------------------------------------

    def check_targets(self) -> dict[str, Answer]:
        """Each external target's answer, from where the generator runs; TargetError for the
        first that is not an HTTP service answering there (``target_check.py``)."""
        for label, target in self.targets.items():
            if label not in self.answers:
                answer = (self.lab.check_target(target) if isinstance(self.lab, ComposeLab)
                          else check(target))  # fmt: skip
                self.echo(f"external target {target.text}: GET {answer.path} answered "
                          f"{answer.status} in {answer.seconds * 1000:.0f} ms")  # fmt: skip
                self.answers[label] = answer
        return self.answers

    def run(self) -> Path:
        """Run everything; return the result set's directory (also on interruption). External
        targets are checked first: one refused (TargetError) leaves no set behind."""
        self.check_targets()
        self.set_dir = set_dir = new_set_dir(self.results_dir)
        runs = self.profile.runs()
        summary = Summary(set_dir, self.profile.name, len(runs))
        manifest: dict[str, Any] = {}
        status: Status = "failed"
        started = time.monotonic()
        self.echo(f"bench {self.profile.name}: {len(runs)} runs -> {set_dir}")
        try:
            with stop_signals_interrupt():
                self._ensure_lab()
                lab = self._serving()
                manifest = self._manifest(lab)
                write_json(set_dir / MANIFEST, manifest)
                if self.profile.calibrate:
                    manifest["calibration"] = self._calibrate(set_dir / "calibration")
                    self.calibration = manifest["calibration"]
                    write_json(set_dir / MANIFEST, manifest)
                for i, run in enumerate(runs, 1):
                    self._one(run, i, len(runs), summary)
            # A run that failed leaves a hole in the matrix: the set is not complete.
            status = "failed" if summary.data["errors"] else "complete"
        except KeyboardInterrupt:
            status = "interrupted"
            self.echo("interrupted: finished runs are kept, the set is marked incomplete")
        finally:
            summary.finish(status)
            if status == "complete":
                point_latest(set_dir)
            if manifest:
                manifest["status"] = status
                manifest["finished_at"] = summary.data["finished_at"]
                manifest["bench_seconds"] = round(time.monotonic() - started, 1)
                manifest["startup_s"] = self.startups
                write_json(set_dir / MANIFEST, manifest)
            self._release_lab()
        return set_dir

    def _manifest(self, lab: dict[str, Any]) -> dict[str, Any]:
        plan, postgres = lab.get("cpu_plan"), None
        if not self.uses_lab:
            lab_plan = cpu_plan(self.settings)
            if isinstance(self.lab, ComposeLab):
                lab_plan = self.lab.cpu_plan()
            plan = external.cpu_plan(lab_plan)
            postgres = {"source": "not used: external targets only"}
        manifest = build_manifest(self.settings, self.profile, self.plan.to_json(),
                                  self._lab_facts(lab), plan, postgres)  # fmt: skip
        if self.targets:
            manifest["targets"] = [
                {**t.to_json(), "answer": self.answers[t.label].to_json(),
                 "notes": list(external.NOTES)}
                for t in self.targets.values()
            ]  # fmt: skip
        return manifest

    def _lab_facts(self, lab: dict[str, Any]) -> dict[str, Any]:
        return {
            "mode": self.settings.lab,
            "started_by_bench": self.started_lab,
            "urls": lab.get("urls", {}),
            "served_before": self.original,
            "notes": lab.get("notes", []) if self.uses_lab else [external.NO_LAB],
        }

    def _calibrate(self, out_dir: Path) -> dict[str, Any]:
        targets: dict[str, tuple[str, int | None]] = {}
        manifest = self._serving()
        for framework, config in manifest.get("variants", {}).items():
            process = manifest.get("processes", {}).get(framework) or {}
            targets[config["name"]] = (self._load_urls(manifest)[framework], process.get("pid"))
        targets |= {label: (t.url, None) for label, t in self.targets.items()}
        env = self._locust_env("calibration")
        return calibrate(targets, self.plan, out_dir, self.settings.root, echo=self.echo, env=env,
                         generator=self._generator())  # fmt: skip

    def _locust_env(self, label: str) -> tuple[tuple[str, str], ...]:
        """The exporter's port and the scenario label it puts on every metric; and, when the
        lab's Prometheus scrapes that port, how long Locust waits for its final scrape."""
        env: tuple[tuple[str, str], ...] = (
            ("LOCUST_METRICS_PORT", str(self.metrics_port)),
            ("LOCUST_SCENARIO", self.label_prefix + label),
        )
        s = self.settings
        if self.metrics_port and http_ok(f"{s.url(s.prometheus_port)}/-/ready"):
            env += (("LOCUST_METRICS_FINAL_SCRAPE_S", str(FINAL_SCRAPE_S)),)
        return env

    def _one(self, run: Run, i: int, total: int, summary: Summary) -> None:
        assert self.set_dir is not None
        url, pid = self._use(run)
        out_dir = self.set_dir / "runs" / run.key
        scenario = get_scenario(run.scenario)
        p = self.profile
        started = time.monotonic()
        warmup = self._warmup_s(run)
        # The previous run's queued requests are not this run's, in either service: both
        # share the service CPU.
        drained = self._drained()
        try:
            result: Any
            if run.tool in OPEN_TOOLS:
                row = self._open_loop(run, url, pid, warmup, out_dir)
                # What every row records: the lab's service it loaded (open loops load no other).
                row |= {"target_url": url, "target_label": row["framework"], "external": False}
            elif run.tool == "wrk":
                result = wrk.run_wrk(url + scenario.path, run.users, p.duration_s, warmup,
                                     out_dir / "wrk.txt", self.plan.taskset, self.plan.cpus, pid,
                                     self.plan.cpus,
                                     service_cpus=self._service_cpu_ids(run))  # fmt: skip
            else:
                env = self._locust_env(f"{run.scenario}/{run.variant}")
                g = self.plan
                # Postgres and the upstream: native pids only (none in compose mode), and none
                # of an external target's.
                infra = () if run.external else infra_pids(self._serving())
                spec = LoadSpec(scenario, url, run.users, warmup, p.duration_s, out_dir,
                                g.taskset, g.locust_processes, pid, env, infra,
                                self._service_cpu_ids(run))  # fmt: skip
                result = run_locust(spec, self.settings.root, self.plan.cpus, self._generator())
        except (RunFailed, RuntimeError, OSError, subprocess.SubprocessError) as exc:
            self.echo(f"[{i}/{total}] {run.key}: FAILED {exc}")
            summary.error(run.key, "".join(traceback.format_exception_only(exc)).strip())
            return
        if run.tool not in OPEN_TOOLS:
            row = build_row(run, result, self.settings, self.service_cpus,
                            self._generator_ceiling(run), f"runs/{run.key}", url)  # fmt: skip
        row["warmup_s"] = round(warmup, 2)
        if not drained:
            row["flags"].append(NOT_DRAINED)
        if row["p50_ms"] is not None and row["p50_ms"] / 1000 > warmup:
            row["flags"].append(SHORT_WARMUP)
        summary.add(row)
        flags = f" flags={','.join(row['flags'])}" if row["flags"] else ""
        target = f" (target {row['target_rps']:.1f})" if row.get("target_rps") else ""
        self.echo(
            f"[{i}/{total}] {run.key}: {row['rps']:.1f} rps{target}, p50 {row['p50_ms']} ms, "
            f"p99 {row['p99_ms']} ms, ceiling {row['ceiling_rps']}, "
            f"generator CPU {row['generator_cpu']}{flags} ({time.monotonic() - started:.0f} s)"
        )
        self._flush_queue(run)

    def _flush_queue(self, run: Run) -> None:
        """Restart the variant when the requests its users left queued would take longer to
        drain than ``wait_idle`` waits (``overlong_queue``)."""
        why = overlong_queue(run, self.settings)
        if why:
            self.echo(f"restarting {run.variant}: {why}")
            self.lab.switch(get_variant(run.variant).framework, run.variant)

    def _open_loop(
        self, run: Run, url: str, pid: int | None, warmup: float, out_dir: Path
    ) -> dict[str, Any]:
        """An open-loop lesson's run (asynclab.bench.open_loop), as its summary row."""
        plan = open_loop.plan_for(run, self.settings, self.profile.duration_s)
        scenario = get_scenario(run.scenario)
        spec = open_loop.OpenSpec(
            url + scenario.path, {"ms": scenario.wait_ms}, run.tool, plan, warmup, out_dir,
            seed=run.repetition, taskset=self.plan.taskset, generator_cpus=self.plan.cpus,
            service_pid=pid, infra_pids=infra_pids(self._serving()),
            service_cpus=self.service_cpu_ids,
        )  # fmt: skip
        result = open_loop.measure(spec)
        return open_loop.build_row(run, result, plan, self.settings, f"runs/{run.key}")

    def _service_cpu_ids(self, run: Run) -> tuple[int, ...]:
        """The CPUs whose load is sampled beside the service's: none of an external target."""
        return () if run.external else self.service_cpu_ids

    def _drained(self) -> bool:
        """Every service loaded in this set has drained: the lab's, and each external target
        as fast as it answered before the load (one far away is never as fast as loopback)."""
        urls = self._serving().get("urls", {})
        drained = wait_idle(*(urls[f] for f in SERVICES if f in urls))
        for label, target in self.targets.items():
            fast_s = external.idle_within(self.answers[label].seconds)
            drained = wait_idle(target.url, fast_s=fast_s) and drained
        return drained

    def _warmup_s(self, run: Run) -> float:
        if run.tool == "open":  # no users to turn over: the profile's warm-up
            return self.profile.warmup_s
        scenario = get_scenario(run.scenario)
        users = run.users
        if run.tool == "closed":
            users = open_loop.plan_for(run, self.settings, self.profile.duration_s).users
        if run.external:
            slots = external.ceiling(scenario, users)
        else:
            slots = slot_ceiling(scenario, get_variant(run.variant), self.settings, users)
        return self.profile.warmup_for(users, slots.rps if slots else None)

    def _generator_ceiling(self, run: Run) -> float | None:
        tool = self.calibration.get(run.tool) or {}
        ceiling: float | None = tool.get("ceiling_rps")
        return ceiling

    def _metrics_port(self) -> int:
        """The Locust exporter's port: ``bench_metrics_port``, which Prometheus scrapes, or any
        free port (0) when it is taken, for example by another bench running at the same time."""
        port = self.settings.bench_metrics_port
        if isinstance(self.lab, ComposeLab):
            return port  # in the generator's container, which has the port to itself
        if not port_in_use(self.settings.host, port):
            return port
        self.echo(
            f"warning: port {port} (ASYNCLAB_BENCH_METRICS_PORT) is taken, so Prometheus will "
            "not see this bench's generator: the Grafana dashboards show no Locust figures for "
            "its runs (the results themselves are unaffected)"
        )
        return 0
