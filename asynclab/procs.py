"""Processes the lab starts: what to run (ProcessSpec) and how to start, watch and stop them.

Every process starts in a session of its own, so that Ctrl-C in the terminal does not reach it
and one ``killpg`` stops a gunicorn master together with its workers; a SIGKILL, when a stop
overruns, reaches every process of the session. Its output goes to
``<state>/logs/<name>.log`` and it is recorded in ``<state>/pids/<name>.pid`` as JSON with its
start time, so that a later ``down`` (even after a crash) can tell our process from an unrelated
one that got the same pid.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import httpx
import psutil

from asynclab.files import write_atomic
from asynclab.openfiles import raise_soft_limit
from asynclab.settings import LabSettings
from asynclab.variants import VARIANTS


class LabError(Exception):
    """A problem the user can fix: the CLI prints the message alone, without a traceback."""


@dataclass(frozen=True)
class ProcessSpec:
    """One long-running program of the lab.

    ``ready_url`` is polled (HTTP 200) before the lab counts the process as started;
    ``cpus`` is a taskset list, or None to leave the process unpinned.
    """

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    ready_url: str | None = None
    port: int | None = None
    cpus: str | None = None
    required: bool = True


@dataclass(frozen=True)
class ProcessRecord:
    """A started process, as written to its pid file and to ``lab.json``."""

    name: str
    pid: int
    create_time: float
    argv: list[str]
    log: str
    port: int | None = None
    url: str | None = None
    cpus: str | None = None
    required: bool = True
    # When it started, in seconds since boot: what identifies the process. ``create_time`` (the
    # epoch) moves by whole seconds whenever the system clock is stepped, as psutil derives it
    # from the boot time that /proc/stat states in the current clock's whole seconds; a lab that
    # trusted it took its own processes for strangers and left them running. None in records
    # written before this field existed: those are matched by ``create_time``.
    boot_start: float | None = None
    # Seconds from its spawn to its first ready answer (HTTP 200 from ``ready_url``), as the
    # readiness poll saw it; None without a readiness check, or in a record written before it.
    startup_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# Popen objects of the children this Python process started. Keeping them lets ``stop`` reap
# the child (no zombie) and stops Popen's destructor from warning about a running child.
_children: dict[int, subprocess.Popen[bytes]] = {}


def reap_exited() -> None:
    """Collect every child that has exited, whoever stopped it (a test's SIGKILL, a crash,
    pg_ctl): no zombie waits until this process exits. Called at each start and at exit."""
    for pid, proc in list(_children.items()):
        if proc.poll() is not None:
            del _children[pid]


# Children still running at exit stay so (`up` returns and the lab runs on); those that exited
# are collected, so that Popen's destructor does not take them for running ones.
atexit.register(reap_exited)


# --- CPU plan -----------------------------------------------------------------------------


def parse_cpus(text: str) -> set[int]:
    """Parse a taskset CPU list: ``parse_cpus("0,2-3") == {0, 2, 3}``."""
    cpus: set[int] = set()
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        if not first.isdigit() or (last and not last.isdigit()):
            raise ValueError(f"not a CPU list: {text!r} (expected e.g. '0' or '0,2-3')")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


def pinning(cpus: str | None, settings: LabSettings) -> tuple[str | None, str]:
    """Whether ``cpus`` can be pinned here: (the CPU list to pin, or None; the reason)."""
    if cpus is None:
        return None, "unpinned by design"
    if not settings.pin_cpus:
        return None, "not pinned: ASYNCLAB_PIN_CPUS is false"
    if shutil.which("taskset") is None:
        return None, "not pinned: taskset not found (Debian package util-linux)"
    try:
        wanted = parse_cpus(cpus)
    except ValueError as exc:
        return None, f"not pinned: {exc}"
    available = os.sched_getaffinity(0)
    if not wanted <= available:
        return None, (
            f"not pinned: CPUs {sorted(wanted - available)} are not available here "
            f"(this process may use {sorted(available)})"
        )
    return cpus, f"pinned to CPU {cpus} with taskset"


def describe_cpu_plan(plan: dict[str, Any]) -> str:
    """One line for people: ``services pinned to CPU 0 with taskset; load generator ...``."""
    return (
        f"services {plan['services']}; load generator {plan['generator']}; "
        f"unpinned: {plan['unpinned']}"
    )


def cpu_plan(settings: LabSettings) -> dict[str, Any]:
    """What runs where, for ``lab.json`` and for the report."""
    service, service_note = pinning(settings.service_cpus, settings)
    generator, generator_note = pinning(settings.generator_cpus, settings)
    return {
        "available_cpus": sorted(os.sched_getaffinity(0)),
        "service_cpus": settings.service_cpus,
        "services_pinned": service is not None,
        "services": service_note,
        "generator_cpus": settings.generator_cpus,
        "generator_pinned": generator is not None,
        "generator": generator_note,
        # They cost every variant the same, so they may run wherever the kernel puts them.
        "unpinned": "postgres, upstream, monitoring",
        # A variant's proxy is part of it: pinned with its server, its CPU counted as the
        # variant's (services/proxy.py).
        "proxies": "; ".join(
            f"{v.proxy} of {v.name} runs with it on the service CPUs"
            for v in VARIANTS.values()
            if v.proxy
        ),
    }


# --- ports --------------------------------------------------------------------------------


def port_setting(settings: LabSettings, port: int) -> str | None:
    """The environment variable that sets ``port``: ``"ASYNCLAB_FLASK_PORT"`` for 8001."""
    for name, value in settings.model_dump().items():
        if name.endswith("_port") and value == port:
            return f"ASYNCLAB_{name.upper()}"
    return None


def port_in_use(host: str, port: int) -> bool:
    # SO_REUSEADDR as the servers themselves use it: a port in TIME_WAIT is free for them,
    # only a socket that is bound or listening makes their bind fail.
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as exc:
        raise LabError(f"cannot resolve ASYNCLAB_HOST={host!r}: {exc}") from exc
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise LabError(f"cannot bind {host}:{port}: {exc}") from exc
    return False


def check_port_free(settings: LabSettings, port: int, who: str) -> None:
    if port_in_use(settings.host, port):
        setting = port_setting(settings, port) or "the port setting"
        raise LabError(
            f"port {port} on {settings.host} (for {who}) is already in use. "
            f"Set {setting} to a free port, or stop what listens there "
            f"(see: ss -ltnp 'sport = :{port}')."
        )


def wait_port_free(settings: LabSettings, port: int, timeout: float = 10.0) -> bool:
    """Wait (bounded) for ``port`` to be free, as after stopping what served it: sockets of
    the old server may take a moment to go. False if it is still taken."""
    deadline = time.monotonic() + timeout
    while port_in_use(settings.host, port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


# --- start --------------------------------------------------------------------------------


def pid_file(settings: LabSettings, name: str) -> Path:
    return settings.pids_dir / f"{name}.pid"


def log_file(settings: LabSettings, name: str) -> Path:
    return settings.logs_dir / f"{name}.log"


def log_tail(path: Path | str, lines: int = 25) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def http_ok(url: str) -> bool:
    try:
        # trust_env=False: a proxy from the environment must never see loopback traffic.
        return httpx.get(url, timeout=2.0, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def start_process(
    spec: ProcessSpec,
    settings: LabSettings,
    *,
    ready: Callable[[], bool] | None = None,
    url: str | None = None,
    timeout: float | None = None,
) -> ProcessRecord:
    """Start ``spec`` detached, record it, and wait until it is ready.

    Readiness is ``ready()`` when given, else HTTP 200 from ``spec.ready_url``. If the process
    exits or is not ready within ``timeout`` (default ``settings.start_timeout_s``) it is
    stopped and LabError carries the tail of its log.
    """
    if spec.port is not None:
        check_port_free(settings, spec.port, spec.name)
    pinned, _ = pinning(spec.cpus, settings)
    argv = (["taskset", "-c", pinned] if pinned else []) + spec.argv
    settings.pids_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    settings.logs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    log = log_file(settings, spec.name)
    # Inherited by the child: a service that holds thousands of connections needs a descriptor
    # for each (asynclab/openfiles.py).
    raise_soft_limit()
    try:
        with log.open("wb") as out:
            spawned = time.monotonic()  # the start of startup_s
            proc = subprocess.Popen(
                argv,
                cwd=spec.cwd,
                env={**os.environ, **spec.env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    except OSError as exc:
        raise LabError(f"cannot start {spec.name} ({argv[0]}): {exc}") from exc
    reap_exited()
    _children[proc.pid] = proc
    try:
        # Until its pid file exists nobody else can stop it: a Ctrl-C here must not orphan it.
        try:
            started = psutil.Process(proc.pid)
            create_time, boot_start = started.create_time(), since_boot(started)
        except psutil.NoSuchProcess:
            create_time, boot_start = 0.0, None
        if url is None and spec.port is not None:
            url = settings.url(spec.port)
        record = ProcessRecord(
            name=spec.name,
            pid=proc.pid,
            create_time=create_time,
            argv=argv,
            log=str(log),
            port=spec.port,
            url=url,
            cpus=pinned,
            required=spec.required,
            boot_start=boot_start,
        )
        write_atomic(pid_file(settings, spec.name), json.dumps(record.to_json()), private=True)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    if ready is None and spec.ready_url is not None:
        ready_url = spec.ready_url
        ready = lambda: http_ok(ready_url)  # noqa: E731
    if ready is not None:
        try:
            ready_at = wait_ready(record, ready, timeout or settings.start_timeout_s)
        except BaseException:
            stop_process(record, settings)
            raise
        record = replace(record, startup_s=round(ready_at - spawned, 3))
    return record


# Readiness is asked again after 10 ms, then at doubling intervals up to 100 ms: a quick start
# (Go's, in tens of milliseconds) is timed closely, a slow one is not polled more than before.
FIRST_POLL_S = 0.01
POLL_S = 0.1


def wait_ready(record: ProcessRecord, ready: Callable[[], bool], timeout: float) -> float:
    """Poll ``ready`` until it holds; return when it first did (``time.monotonic()``)."""
    deadline = time.monotonic() + timeout
    pause = FIRST_POLL_S
    while True:
        if not is_ours(record):
            raise LabError(
                f"{record.name} exited while starting. Last lines of {record.log}:\n"
                f"{log_tail(record.log)}"
            )
        if ready():
            return time.monotonic()
        if time.monotonic() > deadline:
            raise LabError(
                f"{record.name} was not ready within {timeout:g} s "
                f"(ASYNCLAB_START_TIMEOUT_S). Last lines of {record.log}:\n{log_tail(record.log)}"
            )
        time.sleep(pause)
        pause = min(pause * 2, POLL_S)


# --- watch and stop -----------------------------------------------------------------------


def _reap(pid: int) -> None:
    proc = _children.get(pid)
    if proc is not None and proc.poll() is not None:
        del _children[pid]


def reap_child(pid: int, timeout: float) -> None:
    """Collect the exit of ``pid``, if it is a child of ours, once something else stopped it
    (pg_ctl stops Postgres): no zombie, and no warning from Popen's destructor at exit."""
    proc = _children.get(pid)
    if proc is None:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout)
    _reap(pid)


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def since_boot(proc: psutil.Process) -> float:
    """When ``proc`` started, in seconds since boot: unmoved when the system clock is stepped."""
    return proc.create_time() - psutil.boot_time()


def _is_recorded(proc: psutil.Process, record: ProcessRecord) -> bool:
    """Whether ``proc`` is the process ``record`` names, not a later one that got its pid."""
    if record.boot_start is not None:
        return abs(since_boot(proc) - record.boot_start) < 0.05
    return abs(proc.create_time() - record.create_time) < 0.05


def is_ours(record: ProcessRecord) -> bool:
    """True while the recorded process runs; False once it exited or its pid was reused."""
    _reap(record.pid)
    try:
        proc = psutil.Process(record.pid)
        same = _is_recorded(proc, record)
    except psutil.NoSuchProcess:
        return False
    return same and _alive(proc)


def _pid_taken_by_stranger(record: ProcessRecord) -> bool:
    try:
        proc = psutil.Process(record.pid)
        return not _is_recorded(proc, record) and _alive(proc)
    except psutil.NoSuchProcess:
        return False


def group_members(leader: int) -> list[int]:
    """Live processes of the session ``leader`` started the lab process in: the process, its
    process group (e.g. gunicorn's workers) and what it put into groups of its own (nginx and
    gunicorn under services/proxy.py)."""
    members = []
    for proc in psutil.process_iter():
        with contextlib.suppress(ProcessLookupError, psutil.Error):
            if os.getsid(proc.pid) == leader and _alive(proc):
                members.append(proc.pid)
    return members


def _signal_group(leader: int, sig: signal.Signals) -> None:
    """SIGTERM and the like go to the process group, which may order its own stop; SIGKILL,
    or any signal once that group is gone (its leader was killed), to every process left in
    the session."""
    if sig != signal.SIGKILL:
        try:
            os.killpg(leader, sig)
            return
        except ProcessLookupError:
            pass
    # By whole process groups: a parent (gunicorn's arbiter) signalled pid by pid could fork a
    # replacement between two kills, and the child, in its group, would live on with the port.
    groups = set()
    for pid in group_members(leader):
        with contextlib.suppress(ProcessLookupError):
            groups.add(os.getpgid(pid))
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)


def _wait_gone(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while group_members(pgid):
        _reap(pgid)
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    _reap(pgid)
    return True


def stop_process(
    record: ProcessRecord,
    settings: LabSettings,
    *,
    sig: signal.Signals = signal.SIGTERM,
    timeout: float = 15.0,
) -> bool:
    """Stop the process and its group: ``sig``, wait, then SIGKILL. Idempotent.

    Returns False when there was nothing of ours to stop. A pid now used by a process that is
    not ours is never signalled: while any of our group lives, Linux does not hand its id to a
    new process, so a different start time means our group is gone.
    """
    stopped = False
    if not _pid_taken_by_stranger(record) and group_members(record.pid):
        stopped = True
        _signal_group(record.pid, sig)
        if not _wait_gone(record.pid, timeout):
            # Again if something moved to a group of its own in between.
            for _ in range(3):
                _signal_group(record.pid, signal.SIGKILL)
                if _wait_gone(record.pid, 5.0):
                    break
    proc = _children.pop(record.pid, None)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5.0)
    pid_file(settings, record.name).unlink(missing_ok=True)
    return stopped


def read_pid_files(settings: LabSettings) -> Iterator[ProcessRecord]:
    """Records of every pid file; unreadable ones are skipped (they cannot name our process)."""
    if not settings.pids_dir.is_dir():
        return
    for path in sorted(settings.pids_dir.glob("*.pid")):
        try:
            yield ProcessRecord.from_json(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            path.unlink(missing_ok=True)


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports that nothing listens on now, none of them a lab default.

    All are bound at once, so they differ; a default port is skipped because a ``make up`` lab
    may take it at any moment.
    """
    defaults = {f.default for name, f in LabSettings.model_fields.items() if name.endswith("_port")}
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        while len(ports) < count:
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            port: int = sock.getsockname()[1]
            if port not in defaults:
                ports.append(port)
        return ports


def isolated_settings(state_dir: Path, **overrides: Any) -> LabSettings:
    """Settings for a lab of its own: ``state_dir`` and a free port for every port field."""
    fields_ = [name for name in LabSettings.model_fields if name.endswith("_port")]
    ports = dict(zip(fields_, free_ports(len(fields_)), strict=True))
    return LabSettings.model_validate({"state_dir": state_dir, **ports, **overrides})
