"""The compose lab as the bench sees it: settings and ports from ``.env``, variants changed with
``scripts/compose.sh switch``, and nothing of the lab ever started by the bench itself.

``make bench`` in compose mode runs ``scripts/compose.sh bench``: it brings the stack up with the
variants of ``COMPOSE_PROFILES``, then runs ``asynclab bench`` with ``ASYNCLAB_LAB=compose``.
The services run in containers, so the bench has no pids to sample: their CPU time, and the CPU
ceiling computed from it, are recorded as null with a note in the manifest, never estimated.

The load generator runs in the lab too: each Locust run is a ``locust-bench`` container
(``scripts/compose.sh generator``) on the lab's network, under ``GENERATOR_CPUS`` and scraped by
the lab's Prometheus, aimed at the services by their container names. Its CPU is sampled from
the container's first process when the engine runs on this machine, and null otherwise.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import secrets
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from asynclab.bench.generator import GeneratorPlan
from asynclab.bench.locust_run import LoadSpec, locust_command
from asynclab.procs import LabError, http_ok
from asynclab.registry import SERVICES
from asynclab.settings import LabSettings
from asynclab.target import Target, TargetError
from asynclab.target_check import EXIT_REFUSED, REFUSED, Answer
from asynclab.variants import VARIANTS, Framework, get_variant

SCRIPT = Path("scripts") / "compose.sh"
# What a published port bound to every address is reached at from this machine.
ANY_ADDRESS = {"", "0.0.0.0", "::"}
SERVICE_CPU_NOTE = (
    "compose mode: the services run in containers whose processes the bench does not sample, "
    "so service CPU per request and the CPU ceiling are null"
)
# Where the generator container reaches each service: its name, a network alias of each of its
# variants, and its default port, the one inside the containers (compose.yaml), whatever is
# published on this machine.
LOAD_URLS: dict[Framework, str] = {s.name: f"http://{s.name}:{s.port}" for s in SERVICES.values()}
# The generator's metrics port inside its container, scraped as locust-bench:9647.
GENERATOR_METRICS_PORT = "9647"
CONTAINER_OUT = Path("/out")


class ContainerGenerator:
    """One ``locust-bench`` container per Locust run, through ``scripts/compose.sh generator``.

    The run's directory is mounted at ``/out``, so Locust writes its CSV, HTML, log and events
    file where the bench reads them, as the user who runs the bench.
    """

    def __init__(self, script: Sequence[str]) -> None:
        self.script = list(script)
        self.name = ""
        self._gave_up = False

    def command(self, spec: LoadSpec) -> list[str]:
        self.name = f"asynclab-bench-{secrets.token_hex(4)}"
        self._gave_up = False
        inside = dataclasses.replace(spec, out_dir=CONTAINER_OUT, taskset=())
        env = [f"{k}={v}" for k, v in spec.env if k != "LOCUST_METRICS_PORT"]
        env.append(f"LOCUST_METRICS_PORT={GENERATOR_METRICS_PORT}")
        return [
            *self.script, "generator", self.name, str(spec.out_dir.absolute()), *env,
            "--", *locust_command(inside, python="python"),
        ]  # fmt: skip

    def pid(self) -> int | None:
        """The container's first process, once it runs, if it is a process of this machine.

        A Docker Desktop engine runs containers in a virtual machine: the pid it reports is
        not ours to sample, which /proc/<pid>/cgroup (naming the container) tells apart."""
        if self._gave_up:
            return None
        done = subprocess.run(
            [*self.script, "generator-pid", self.name],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        fields = done.stdout.split()
        if done.returncode != 0 or len(fields) != 2 or not fields[0].isdigit():
            return None  # not created yet
        pid, container_id = int(fields[0]), fields[1]
        if pid == 0:
            return None  # created, not running yet
        try:
            cgroups = Path(f"/proc/{pid}/cgroup").read_text()
        except OSError:
            cgroups = ""
        if container_id not in cgroups:
            self._gave_up = True
            return None
        return pid

    def stop(self) -> None:
        if self.name:
            subprocess.run(
                [*self.script, "generator-stop", self.name], capture_output=True, check=False
            )


def compose_values(env_dir: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The values compose interpolates: ``.env``, then ``.env.local``, then the shell wins
    (the order of ``scripts/compose.sh``).

    ``ASYNCLAB_FLASK_PORT=9001`` in the shell beats ``ASYNCLAB_FLASK_PORT=8001`` in ``.env``.
    """
    values: dict[str, str] = {}
    for name in (".env", environ.get("ASYNCLAB_ENV_LOCAL") or ".env.local"):
        path = env_dir / name
        if path.is_file():
            values |= {k: v for k, v in dotenv_values(path).items() if v is not None}
    values |= {k: v for k, v in environ.items() if v and (k in values or k.startswith("ASYNCLAB_"))}
    return values


def compose_settings(values: Mapping[str, str], root: Path) -> LabSettings:
    """Lab settings as the compose stack runs them: ``ASYNCLAB_*`` of ``.env`` and the shell."""
    names = {f"ASYNCLAB_{name.upper()}": name for name in LabSettings.model_fields}
    fields: dict[str, str] = {names[k]: v for k, v in values.items() if k in names}
    bind = values.get("BIND_ADDRESS", "127.0.0.1")
    fields |= {
        "root": str(root),
        "lab": "compose",
        "host": "127.0.0.1" if bind in ANY_ADDRESS else bind,
    }
    return LabSettings.model_validate(fields)


class ComposeLab:
    """``script`` replaces ``scripts/compose.sh`` (tests pass a stand-in: no engine runs there);
    ``env_dir`` is where ``.env`` is (the project root by default)."""

    def __init__(
        self,
        settings: LabSettings,
        echo: Callable[[str], None] = print,
        *,
        script: Sequence[str] | None = None,
        env_dir: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        root = settings.root
        self.values = compose_values(env_dir or root, os.environ if environ is None else environ)
        self.settings = compose_settings(self.values, root)
        self.script = list(script) if script else [str(root / SCRIPT)]
        self.echo = echo
        self.served = self._profiles()
        self.generator = ContainerGenerator(self.script)

    def _profiles(self) -> dict[Framework, str]:
        """The variants ``COMPOSE_PROFILES`` starts, which ``compose.sh bench`` has just done."""
        served: dict[Framework, str] = {}
        for name in self.values.get("COMPOSE_PROFILES", "").split(","):
            if name.strip() in VARIANTS:
                served[get_variant(name.strip()).framework] = name.strip()
        return served

    def url(self, framework: Framework) -> str:
        return self.settings.service_url(framework)

    def manifest(self) -> dict[str, Any] | None:
        """What the bench needs to know of the lab, or None when a service does not answer."""
        urls = {f: self.url(f) for f in SERVICES}
        if not all(http_ok(f"{url}/readyz") for url in urls.values()):
            return None
        s = self.settings
        return {
            "mode": "compose",
            "host": s.host,
            "urls": urls,
            # Where the generator's container sends the load.
            "load_urls": dict(LOAD_URLS),
            "processes": {},  # containers: no pid of ours to sample
            "variants": {f: get_variant(name).config(s) for f, name in self.served.items()},
            "cpu_plan": self.cpu_plan(),
            "service_cpu_count": max(1, math.ceil(float(self.values.get("SERVICE_CPUS", "1")))),
            "notes": [SERVICE_CPU_NOTE],
            "settings": s.model_dump(mode="json"),
        }

    def generator_cores(self) -> int:
        """Whole cores of ``GENERATOR_CPUS``: one Locust process uses at most one."""
        return max(1, math.floor(float(self.values.get("GENERATOR_CPUS", "1"))))

    def generator_plan(self) -> GeneratorPlan:
        cores = self.generator_cores()
        limit = self.values.get("GENERATOR_CPUS", "1")
        how = f"Locust distributed: {cores} worker processes" if cores > 1 else "one Locust process"
        note = f"compose: a locust-bench container limited to GENERATOR_CPUS={limit}; {how}"
        return GeneratorPlan((), cores, cores, note)

    def cpu_plan(self) -> dict[str, Any]:
        limit = self.values.get("SERVICE_CPUS", "?")
        generator = self.values.get("GENERATOR_CPUS", "?")
        return {
            "available_cpus": sorted(os.sched_getaffinity(0)),
            "service_cpus": f"{limit} per container",
            "services_pinned": False,
            "services": f"compose containers limited to {limit} CPU each (SERVICE_CPUS in .env, "
            "a CPU quota rather than a CPU set); not sampled by the bench",
            "generator_cpus": f"{generator} per container",
            "generator_pinned": False,
            "generator": f"a locust-bench container per run, limited to {generator} CPU "
            "(GENERATOR_CPUS in .env, a CPU quota), on the lab's network",
            "unpinned": "postgres, upstream, monitoring (containers with their own limits)",
        }

    def check_target(self, target: Target) -> Answer:
        """``target_check`` where the generator runs: in a locust-bench container on the lab's
        network, where 127.0.0.1 is the container itself and this machine is
        ``host.docker.internal`` (compose.yaml's ``extra_hosts``)."""
        with tempfile.TemporaryDirectory() as out:
            cmd = [*self.script, "generator", f"asynclab-check-{secrets.token_hex(4)}", out,
                   "--", "python", "-m", "asynclab.target_check", target.text]  # fmt: skip
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        said = [line for line in done.stderr.splitlines() if line.startswith(REFUSED)]
        if done.returncode == EXIT_REFUSED and said:
            raise TargetError(f"{said[-1].removeprefix(REFUSED)} (checked from the lab's "
                              "generator container)", target)  # fmt: skip
        try:
            return Answer.from_json(json.loads(done.stdout.strip().splitlines()[-1]))
        except (ValueError, KeyError, IndexError):
            raise LabError(
                f"checking {target.text} in a generator container failed (exit "
                f"{done.returncode}): {(done.stderr or done.stdout).strip()[-1000:]}"
            ) from None

    def switch(self, framework: Framework, variant_name: str) -> None:
        """``scripts/compose.sh switch flask flask-gthread``: stops the framework's other
        variants and waits until this one is healthy."""
        try:
            get_variant(variant_name, framework)
        except ValueError as exc:
            raise LabError(str(exc)) from None
        cmd = [*self.script, "switch", framework, variant_name]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise LabError(
                f"{' '.join(cmd)} failed (exit {done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-1000:]}"
            )
        self.served[framework] = variant_name

    def up(self) -> None:
        raise LabError(
            "the compose lab is not up (its services do not answer on "
            f"{', '.join(self.url(f) for f in SERVICES)}): start it with `make lab` or "
            "`scripts/compose.sh up`; `make bench` in compose mode does both"
        )

    def down(self) -> None:
        """The bench never starts the compose lab, so it never stops it either."""
