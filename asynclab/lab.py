"""The native lab runner: Postgres, the slow upstream and every service, without Docker.

``Lab(settings).up()`` starts everything in the background and records it in
``<state>/lab.json``; ``down()``, ``status()`` and ``switch()`` work from that record and the
pid files, so they work from another process too (``asynclab up`` then ``asynclab down``).
``up()`` on a lab that is partly running restarts only what is missing.

The state directory is its owner's alone (``statedir.py``): lab.json holds the database
password, and the logs what the services printed.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import logging
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from asynclab import postgres, statedir
from asynclab.files import write_atomic
from asynclab.observability import observability_processes
from asynclab.procs import (
    LabError,
    ProcessRecord,
    ProcessSpec,
    check_port_free,
    cpu_plan,
    is_ours,
    port_setting,
    read_pid_files,
    start_process,
    stop_process,
    wait_port_free,
)
from asynclab.registry import SERVICES
from asynclab.settings import LabSettings
from asynclab.target import TargetError, parse_target
from asynclab.target_check import check
from asynclab.variants import Framework, Variant, get_variant
from asynclab.webui import locust_web_process

__all__ = ["Lab", "LabError", "ProcessStatus", "upstream_command"]

SCHEMA = Path("db") / "init.sql"
MANIFEST_VERSION = 1

log = logging.getLogger(__name__)


def upstream_command(
    settings: LabSettings, python: str, port: int, host: str | None = None
) -> list[str]:
    """The slow upstream's command line, here and nowhere else (compose repeats it, tested)."""
    return [
        python, "-m", "uvicorn", "services.upstream.app:app",
        "--host", host or settings.host, "--port", str(port),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log",
    ]  # fmt: skip


@dataclass(frozen=True)
class ProcessStatus:
    name: str
    pid: int
    port: int | None
    url: str | None
    alive: bool
    log: str | None = None


class Lab:
    """One lab instance, identified by its state directory."""

    def __init__(
        self, settings: LabSettings | None = None, echo: Callable[[str], None] | None = None
    ) -> None:
        settings = settings or LabSettings()
        # Postgres runs with its own working directory: every path must be absolute.
        self.settings = settings.model_copy(update={"state_dir": settings.state_dir.absolute()})
        self.echo = echo or log.info
        self.python = sys.executable

    @property
    def manifest_path(self) -> Path:
        return self.settings.state_dir / "lab.json"

    def manifest(self) -> dict[str, Any] | None:
        """The content of ``lab.json``, or None when the lab is not up."""
        try:
            data: dict[str, Any] = json.loads(self.manifest_path.read_text())
        except (OSError, ValueError):
            return None
        return data

    # --- up -------------------------------------------------------------------------------

    def up(self) -> dict[str, Any]:
        """Start everything, wait until each process is ready, and return the manifest.

        On any failure (or Ctrl-C) whatever was started is stopped again and LabError raised.
        On a lab that is already running, restart what of it is no longer running (a crash, a
        kill) and keep the rest: see :meth:`_restart_missing`.
        """
        with self._lock():
            manifest = self.manifest()
            if manifest is not None and any(is_ours(r) for r in self._records()):
                return self._restart_missing(manifest)
            self._refuse_if_running()
            self._check_target()
            variants = self._variants()
            for variant in variants.values():
                self._refuse_if_missing(variant)
            services = [self._service_spec(variants[f]) for f in SERVICES]
            upstream = self._upstream_spec()
            monitoring = [
                *observability_processes(self.settings),
                locust_web_process(self.settings),
            ]
            schema = self.settings.root / SCHEMA
            if not schema.is_file():
                raise LabError(f"the schema {schema} is missing")
            postgres.bindir()
            postgres.as_postgres_user()
            monitoring, skipped = self._check_ports([upstream, *services], monitoring)

            started: list[ProcessRecord] = []
            try:
                self.echo(
                    f"starting postgres on {self.settings.host}:{self.settings.postgres_port}"
                )
                started.append(postgres.start(self.settings))
                self.echo(f"loading {SCHEMA}")
                postgres.load_sql(self.settings, schema)
                started.append(self._start(upstream))
                for framework in SERVICES:
                    started.append(self._start_service(variants[framework]))
                for spec in monitoring:
                    try:
                        started.append(self._start(spec))
                    except LabError as exc:
                        if spec.required:
                            raise
                        skipped.append({"name": spec.name, "reason": str(exc)})
                        self.echo(f"warning: {spec.name} skipped: {exc}")
                manifest = self._new_manifest(started, variants, skipped)
                self._write_manifest(manifest)
                statedir.make_private(self.settings)  # also what the processes created
            except BaseException as exc:
                self.echo("start failed: stopping what was started")
                self._stop_all(started)
                self.manifest_path.unlink(missing_ok=True)
                if isinstance(exc, KeyboardInterrupt):
                    raise LabError("interrupted; everything started was stopped") from None
                if isinstance(exc, psycopg.Error | OSError):
                    raise LabError(f"start failed ({exc}); everything started was stopped") from exc
                raise
            return manifest

    def _check_target(self) -> None:
        """The web UI's external target (``ASYNCLAB_TARGET``) answers HTTP, or nothing starts."""
        text = self.settings.target
        if not text:
            return
        try:
            answer = check(parse_target(text))
        except TargetError as exc:
            raise LabError(f"ASYNCLAB_TARGET={text}: {exc}") from None
        self.echo(f"ASYNCLAB_TARGET {text}: GET {answer.path} answered {answer.status}; the web "
                  "UI's Target list offers it")  # fmt: skip

    # --- restart what is missing ----------------------------------------------------------

    def _restart_missing(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Restart the recorded processes that no longer run, with the lab's own settings.

        What runs keeps running (same pids). A service comes back as the variant it served.
        Settings given explicitly that differ from the running lab's are refused, as they
        would silently not apply. A required process that fails to restart raises LabError;
        an optional one is skipped with a warning, as at a first start.
        """
        self._adopt_recorded_settings(manifest)
        records = [ProcessRecord.from_json(data) for data in manifest["processes"].values()]
        dead = [r for r in self._in_start_order(records) if not is_ours(r)]
        if not dead:
            self.echo(f"the lab in {self.settings.state_dir} is already running: nothing to do")
            return manifest
        monitoring: dict[str, ProcessSpec] = {}
        for old in dead:
            self.echo(f"{old.name} (pid {old.pid}) is not running: restarting it")
            # Leftovers first: gunicorn workers outlive a killed arbiter, holding its port.
            if old.name == "postgres":
                postgres.stop(self.settings, old)
            else:
                stop_process(old, self.settings)
            try:
                record = self._restart(old.name, manifest, monitoring)
            except LabError as exc:
                del manifest["processes"][old.name]
                if old.required:
                    self._write_manifest(manifest)
                    raise LabError(
                        f"restarting {old.name} failed: {exc}\nThe rest of the lab keeps "
                        "running; `asynclab status` shows it."
                    ) from None
                manifest["skipped"].append({"name": old.name, "reason": str(exc)})
                self.echo(f"warning: {old.name} skipped: {exc}")
            else:
                manifest["processes"][old.name] = record.to_json()
            self._write_manifest(manifest)
        restarted = [r.name for r in dead if r.name in manifest["processes"]]
        self.echo(f"restarted {', '.join(restarted) or 'nothing'}; the rest kept running")
        return manifest

    def _adopt_recorded_settings(self, manifest: dict[str, Any]) -> None:
        """Take the running lab's settings; LabError when the caller explicitly set others."""
        recorded = LabSettings.model_validate(manifest["settings"])
        serving = {f: v["name"] for f, v in manifest.get("variants", {}).items() if f in SERVICES}
        running = recorded.model_copy(
            update={SERVICES[f].variant_setting: name for f, name in serving.items()}
        ).model_dump(mode="json")
        wanted = self.settings.model_dump(mode="json")
        shown = LabSettings.shown
        conflicts = [
            f"ASYNCLAB_{name.upper()}={shown(name, wanted[name])} "
            f"(the lab has {shown(name, running[name])})"
            for name in sorted(self.settings.model_fields_set - {"state_dir", "start_timeout_s"})
            if wanted[name] != running[name]
        ]
        if conflicts:
            raise LabError(
                f"the lab in {self.settings.state_dir} is running with other settings: "
                f"{'; '.join(conflicts)}. Nothing was changed. Run `asynclab down` first to "
                "start it with these settings (`asynclab up` without them restarts only what "
                "is missing)."
            )
        self.settings = recorded.model_copy(update={"state_dir": self.settings.state_dir})

    def _restart(
        self, name: str, manifest: dict[str, Any], monitoring: dict[str, ProcessSpec]
    ) -> ProcessRecord:
        if name == "postgres":
            record = postgres.start(self.settings)
            postgres.load_sql(self.settings, self.settings.root / SCHEMA)
            return record
        if name == "upstream":
            return self._start(self._upstream_spec())
        if name in SERVICES:
            served = manifest["variants"].get(name, {}).get("name")
            variant = self._variant(name, served or self.settings.variant(name))
            manifest["variants"][name] = variant.config(self.settings)
            return self._start_service(variant)
        if not monitoring:
            specs = [*observability_processes(self.settings), locust_web_process(self.settings)]
            monitoring.update({spec.name: spec for spec in specs})
        if name not in monitoring:
            raise LabError(f"{name} is no longer installed")
        return self._start(monitoring[name])

    def _variants(self) -> dict[Framework, Variant]:
        return {f: self._variant(f, self.settings.variant(f)) for f in SERVICES}

    @staticmethod
    def _variant(framework: Framework, name: str) -> Variant:
        try:
            return get_variant(name, framework)
        except ValueError as exc:
            raise LabError(str(exc)) from None

    def _refuse_if_running(self) -> None:
        """Refuse to start over remains that lab.json does not describe (a crash during up)."""
        running = [r for r in self._records() if is_ours(r)]
        pg = postgres.postmaster_pid(self.settings)
        if running or pg is not None:
            names = ", ".join(f"{r.name} (pid {r.pid})" for r in running) or f"postgres (pid {pg})"
            raise LabError(
                f"the lab in {self.settings.state_dir} is partly running ({names}) but its "
                "record lab.json is missing, so what else it ran is unknown. Nothing was "
                "changed. Run `asynclab down` first, then `asynclab up`."
            )
        # Leftovers of a crashed run: nothing of them runs any more (checked above).
        for record in read_pid_files(self.settings):
            stop_process(record, self.settings)
        self.manifest_path.unlink(missing_ok=True)

    def _check_ports(
        self, required: list[ProcessSpec], optional: list[ProcessSpec]
    ) -> tuple[list[ProcessSpec], list[dict[str, str]]]:
        """Fail on a taken or doubly used port of a required process; skip optional ones."""
        s = self.settings
        wanted = [("postgres", s.postgres_port)] + [(p.name, p.port) for p in required if p.port]
        seen: dict[int, str] = {}
        for name, port in wanted:
            if port in seen:
                raise LabError(
                    f"{name} and {seen[port]} are both set to port {port}; "
                    f"give {port_setting(s, port) or name} another value"
                )
            seen[port] = name
            check_port_free(s, port, name)
        kept, skipped = [], []
        for spec in optional:
            try:
                if spec.port is not None:
                    if spec.port in seen:
                        raise LabError(f"port {spec.port} is already used by {seen[spec.port]}")
                    check_port_free(s, spec.port, spec.name)
            except LabError as exc:
                if spec.required:
                    raise
                skipped.append({"name": spec.name, "reason": str(exc)})
                self.echo(f"warning: {spec.name} skipped: {exc}")
                continue
            kept.append(spec)
        return kept, skipped

    def _start(self, spec: ProcessSpec) -> ProcessRecord:
        self.echo(f"starting {spec.name}" + (f" on port {spec.port}" if spec.port else ""))
        return start_process(spec, self.settings)

    def _upstream_spec(self) -> ProcessSpec:
        s = self.settings
        return ProcessSpec(
            name="upstream",
            argv=upstream_command(s, self.python, s.upstream_port),
            env={"PYTHONUNBUFFERED": "1"},
            cwd=s.root,
            ready_url=f"{s.upstream_url}/healthz",
            port=s.upstream_port,
        )

    def metrics_dir(self, framework: Framework) -> Path:
        return self.settings.state_dir / "metrics" / framework

    def _service_spec(self, variant: Variant) -> ProcessSpec:
        s = self.settings
        port = s.port(variant.framework)
        metrics = self.metrics_dir(variant.framework)
        env = variant.environment(s, s.database_url(), s.upstream_url, str(metrics))
        return ProcessSpec(
            name=variant.framework,
            argv=variant.command(s, self.python, port),
            env={"PYTHONUNBUFFERED": "1", **env},
            cwd=s.root,
            ready_url=f"{s.url(port)}/readyz",
            port=port,
            cpus=s.service_cpus,
        )

    def start_service(self, framework: Framework, variant_name: str) -> ProcessRecord:
        """Start one service from these settings, outside any manifest; stop it with stop_process.

        For a twin beside a running lab: settings copied from that lab with another state dir
        and port share its Postgres and upstream. The metrics overhead bench runs one.
        """
        return self._start_service(self._variant(framework, variant_name))

    def _refuse_if_missing(self, variant: Variant) -> None:
        missing = variant.missing(self.settings.root)
        if missing is not None:
            raise LabError(f"cannot start {variant.name}: {missing}")

    def _start_service(self, variant: Variant) -> ProcessRecord:
        self._refuse_if_missing(variant)
        # prometheus_client's multiprocess files of an earlier run would add to the new counts.
        metrics = self.metrics_dir(variant.framework)
        shutil.rmtree(metrics, ignore_errors=True)
        # Private like the whole state dir (statedir.py); a twin's may not exist yet.
        metrics.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        metrics.mkdir(mode=0o700)
        spec = self._service_spec(variant)
        if spec.port is not None:
            # Switch and restart reuse the port of what they just stopped; on a busy machine
            # another program's short-lived socket may hold it for a moment (ephemeral ports
            # share the range free ports are drawn from). A port still taken fails as usual.
            wait_port_free(self.settings, spec.port)
        return self._start(spec)

    def _new_manifest(
        self,
        started: list[ProcessRecord],
        variants: dict[Framework, Variant],
        skipped: list[dict[str, str]],
    ) -> dict[str, Any]:
        s = self.settings
        return {
            "version": MANIFEST_VERSION,
            "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "state_dir": str(s.state_dir),
            "host": s.host,
            "processes": {r.name: r.to_json() for r in started},
            # URLs are shown to people and copied into bench results: no password in them.
            "urls": {
                **{r.name: r.url for r in started if r.url},
                "postgres": postgres.display_url(s),
            },
            "variants": {f: v.config(s) for f, v in variants.items()},
            "cpu_plan": cpu_plan(s),
            "postgres": {"dsn": postgres.display_url(s), "settings": postgres.server_settings(s)},
            "skipped": skipped,
            "settings": s.model_dump(mode="json"),
        }

    # --- switch ---------------------------------------------------------------------------

    def switch(self, framework: Framework, variant_name: str) -> ProcessRecord:
        """Serve ``framework``'s port with another variant; the rest of the lab keeps running."""
        with self._lock():
            manifest = self.manifest()
            if manifest is None:
                raise LabError(f"the lab in {self.settings.state_dir} is not running")
            variant = self._variant(framework, variant_name)
            old = manifest["processes"].get(framework)
            if old is not None:
                stop_process(ProcessRecord.from_json(old), self.settings)
            manifest["processes"].pop(framework, None)
            manifest["variants"].pop(framework, None)
            try:
                record = self._start_service(variant)
            finally:
                self._write_manifest(manifest)
            manifest["processes"][framework] = record.to_json()
            manifest["variants"][framework] = variant.config(self.settings)
            self._write_manifest(manifest)
            return record

    def _write_manifest(self, manifest: dict[str, Any]) -> None:
        write_atomic(self.manifest_path, json.dumps(manifest, indent=2) + "\n", private=True)

    # --- down and status ------------------------------------------------------------------

    def down(self) -> list[str]:
        """Stop everything this state dir's lab started, also after a crash. Idempotent.

        Returns the names of the processes that were still running.
        """
        if not self.settings.state_dir.is_dir():
            return []
        with self._lock():
            records = self._records()
            stopped = self._stop_all(records)
            self.manifest_path.unlink(missing_ok=True)
            return stopped

    def status(self) -> list[ProcessStatus]:
        """Every process the lab knows of, in start order, and whether each still runs."""
        return [
            ProcessStatus(r.name, r.pid, r.port, r.url, is_ours(r), r.log) for r in self._records()
        ]

    def _records(self) -> list[ProcessRecord]:
        """Processes known from lab.json and from pid files (a crash may leave only those)."""
        manifest = self.manifest() or {}
        records = {
            name: ProcessRecord.from_json(data)
            for name, data in manifest.get("processes", {}).items()
        }
        for record in read_pid_files(self.settings):
            records.setdefault(record.name, record)
        return self._in_start_order(list(records.values()))

    @staticmethod
    def _in_start_order(records: list[ProcessRecord]) -> list[ProcessRecord]:
        # Postgres first, so that stopping in reverse stops it last.
        order = {name: i for i, name in enumerate(["postgres", "upstream", *SERVICES])}
        return sorted(records, key=lambda r: order.get(r.name, len(order)))

    def _stop_all(self, records: list[ProcessRecord]) -> list[str]:
        with _ctrl_c_deferred():
            return self._stop_all_now(records)

    def _stop_all_now(self, records: list[ProcessRecord]) -> list[str]:
        stopped = []
        pg_record = None
        for record in reversed(records):
            if record.name == "postgres":
                pg_record = record
                continue
            if stop_process(record, self.settings):
                stopped.append(record.name)
        # Also a postmaster that a crash left without a pid file: its pgdata says it is ours.
        if postgres.stop(self.settings, pg_record):
            stopped.append("postgres")
        return stopped

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """One up/down/switch at a time per state dir."""
        statedir.make_private(self.settings)
        with statedir.open_private(self.settings.state_dir / "lab.lock") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LabError(
                    f"another asynclab up/down/switch is working on {self.settings.state_dir}"
                ) from None
            yield


@contextlib.contextmanager
def _ctrl_c_deferred() -> Iterator[None]:
    """Let a second Ctrl-C not interrupt the cleanup of the first (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
