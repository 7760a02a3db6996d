"""The native runner: up, status, switch and down against real Postgres and real services."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest
from click.testing import CliRunner
from helpers import LabSettingsFactory, listening, pid_alive, poll_until, processes_mentioning

from asynclab import postgres, procs
from asynclab.cli import main
from asynclab.lab import Lab, LabError
from asynclab.procs import ProcessRecord, ProcessSpec
from asynclab.registry import SERVICES
from asynclab.settings import LabSettings
from asynclab.variants import Framework

ASYNCLAB = str(Path(sys.executable).with_name("asynclab"))
PROCESSES = ["postgres", "upstream", *SERVICES]  # in start order


def cli(settings: LabSettings, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the ``asynclab`` command as a user would, with the settings as ASYNCLAB_* vars."""
    env = dict(os.environ)
    for name, value in settings.model_dump(mode="json").items():
        if name in settings.model_fields_set:
            env[f"ASYNCLAB_{name.upper()}"] = str(value)
    return subprocess.run(
        [ASYNCLAB, *args], env=env, capture_output=True, text=True, timeout=240, check=False
    )


def get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=10, trust_env=False)


def assert_nothing_left(settings: LabSettings, pids: list[int]) -> None:
    assert [pid for pid in pids if pid_alive(pid)] == []
    assert processes_mentioning(str(settings.state_dir)) == []
    assert list(settings.pids_dir.glob("*.pid")) == []
    assert not (settings.state_dir / "lab.json").exists()
    for port in (*(settings.port(name) for name in SERVICES), settings.upstream_port):
        assert not procs.port_in_use(settings.host, port)
    assert not procs.port_in_use(settings.host, settings.postgres_port)


def test_cli_up_status_down_leaves_nothing(lab_settings_factory: LabSettingsFactory) -> None:
    password = f"pw-{secrets.token_hex(8)}"
    settings = lab_settings_factory(postgres_password=password)
    try:
        started = cli(settings, "up")
        assert started.returncode == 0, started.stderr
        urls = [settings.service_url(name) for name in SERVICES]
        for url in (*urls, settings.upstream_url):
            assert url in started.stdout
        assert postgres.display_url(settings) in started.stdout
        for url in urls:
            assert get(f"{url}/readyz").json() == {"status": "ready"}

        status = cli(settings, "status")
        assert status.returncode == 0, status.stderr
        rows = [line.split() for line in status.stdout.splitlines()[1 : 1 + len(PROCESSES)]]
        assert [(row[0], row[-1]) for row in rows] == [(name, "yes") for name in PROCESSES]
        assert_password_not_shown(settings, password, [started, status])

        manifest = json.loads((settings.state_dir / "lab.json").read_text())
        pids = [p["pid"] for p in manifest["processes"].values()]
        stopped = cli(settings, "down")
        assert stopped.returncode == 0, stopped.stderr
        assert "Stopped:" in stopped.stdout
        assert_nothing_left(settings, pids)
        assert "Nothing was running" in cli(settings, "down").stdout
    finally:
        Lab(settings).down()


def assert_password_not_shown(
    settings: LabSettings, password: str, outputs: list[subprocess.CompletedProcess[str]]
) -> None:
    """The password is in no output, log or command line; only lab.json (owner-only) has it."""
    for output in outputs:
        assert password not in output.stdout + output.stderr
    for log in settings.logs_dir.glob("*.log"):
        assert password not in log.read_text(errors="replace"), log
    assert processes_mentioning(password) == []
    manifest = json.loads((settings.state_dir / "lab.json").read_text())
    assert password not in json.dumps({k: v for k, v in manifest.items() if k != "settings"})


def test_second_up_says_so_and_changes_nothing(lab: Lab) -> None:
    before = lab.manifest_path.read_bytes()
    said: list[str] = []
    assert Lab(lab.settings, echo=said.append).up() == json.loads(before)
    assert any("already running: nothing to do" in line for line in said), said
    assert lab.manifest_path.read_bytes() == before
    assert all(row.alive for row in lab.status())
    assert get(f"{lab.settings.service_url('flask')}/readyz").status_code == 200


def test_up_with_other_settings_on_a_running_lab_changes_nothing(lab: Lab) -> None:
    before = lab.manifest_path.read_bytes()
    update = {"flask_variant": "flask-gevent", "workers": 2, "postgres_password": "other-secret"}
    other = lab.settings.model_copy(update=update)
    with pytest.raises(LabError, match="running with other settings") as error:
        Lab(other).up()
    assert "ASYNCLAB_WORKERS=2" in str(error.value)
    # The password differs and is named, never shown: neither the lab's nor the one asked for.
    assert "ASYNCLAB_POSTGRES_PASSWORD=******** (the lab has ********)" in str(error.value)
    assert "other-secret" not in str(error.value)
    assert "ASYNCLAB_FLASK_VARIANT='flask-gevent'" in str(error.value)
    assert "asynclab down" in str(error.value)
    assert lab.manifest_path.read_bytes() == before


def test_up_restarts_a_dead_service_and_keeps_the_rest(lab: Lab) -> None:
    before = {row.name: row.pid for row in lab.status()}
    os.killpg(before["fastapi"], signal.SIGKILL)  # a crash: no clean-up of any kind
    poll_until(lambda: not pid_alive(before["fastapi"]), "fastapi to die")

    status = cli(lab.settings, "status")
    assert status.returncode == 1
    assert "fastapi is not running" in status.stdout
    assert "Run `asynclab up` (or `make up`) to restart fastapi" in status.stdout

    restarted = cli(lab.settings, "up")
    assert restarted.returncode == 0, restarted.stderr
    assert f"fastapi (pid {before['fastapi']}) is not running: restarting it" in restarted.stderr
    assert "restarted fastapi; the rest kept running" in restarted.stderr
    after = {row.name: row.pid for row in lab.status()}
    assert after["fastapi"] != before["fastapi"]
    assert {n: p for n, p in after.items() if n != "fastapi"} == {
        n: p for n, p in before.items() if n != "fastapi"
    }
    assert get(f"{lab.settings.service_url('fastapi')}/readyz").json() == {"status": "ready"}
    manifest = lab.manifest()
    assert manifest is not None
    assert manifest["variants"]["fastapi"]["name"] == lab.settings.variant("fastapi")
    assert cli(lab.settings, "status").returncode == 0


def test_up_restarts_the_variant_that_was_served(lab: Lab) -> None:
    lab.switch("flask", "flask-sync-nginx")
    try:
        pid = lab.status()[2].pid
        # Only the program that runs nginx and gunicorn dies: both are left behind, holding
        # the port, and must go before the restart can take it.
        os.killpg(pid, signal.SIGKILL)
        poll_until(lambda: not pid_alive(pid), "flask to die")
        assert procs.group_members(pid) != []
        Lab(lab.settings).up()
        assert procs.group_members(pid) == []
        manifest = lab.manifest()
        assert manifest is not None
        assert manifest["variants"]["flask"]["name"] == "flask-sync-nginx"
        assert manifest["processes"]["flask"]["pid"] != pid
        assert get(f"{lab.settings.service_url('flask')}/readyz").status_code == 200
    finally:
        lab.switch("flask", lab.settings.variant("flask"))


@pytest.mark.parametrize("variant", ["flask-granian", "fastapi-granian"])
def test_up_stops_the_workers_a_killed_granian_left(lab: Lab, variant: str) -> None:
    """granian's workers outlive its killed main process and keep the port (each listens on
    its own SO_REUSEPORT socket, where a new granian would bind beside them): up stops them
    before it starts the service again, and a switch away leaves none of them either."""
    framework: Framework = "flask" if variant.startswith("flask") else "fastapi"
    record = lab.switch(framework, variant)
    try:
        workers = poll_until(lambda: psutil.Process(record.pid).children(), "granian's workers")
        os.kill(record.pid, signal.SIGKILL)  # the main process only
        poll_until(lambda: not pid_alive(record.pid), "granian's main process to die")
        assert all(w.is_running() for w in workers)  # orphans, still serving the port
        Lab(lab.settings).up()
        assert not [w.pid for w in workers if pid_alive(w.pid)]
        manifest = lab.manifest()
        assert manifest is not None
        assert manifest["variants"][framework]["name"] == variant
        base = lab.settings.service_url(framework)
        assert get(f"{base}/readyz").status_code == 200
        main = manifest["processes"][framework]["pid"]
        started = [main, *(w.pid for w in psutil.Process(main).children())]
    finally:
        lab.switch(framework, getattr(lab.settings, f"{framework}_variant"))
    assert not [pid for pid in started if pid_alive(pid)]


def test_status_lists_every_process(lab: Lab) -> None:
    rows = lab.status()[: len(PROCESSES)]  # monitoring follows, when it is installed
    assert [row.name for row in rows] == PROCESSES
    assert all(row.alive and row.pid > 0 for row in rows)
    assert {row.name: row.port for row in rows} == {
        "postgres": lab.settings.postgres_port,
        "upstream": lab.settings.upstream_port,
        **{name: lab.settings.port(name) for name in SERVICES},
    }


def test_manifest_records_variants_and_cpu_plan(lab: Lab) -> None:
    manifest = lab.manifest()
    assert manifest is not None
    for name in SERVICES:
        assert manifest["variants"][name]["name"] == lab.settings.variant(name)
    assert manifest["cpu_plan"]["service_cpus"] == lab.settings.service_cpus
    if manifest["cpu_plan"]["services_pinned"]:
        assert manifest["processes"]["flask"]["argv"][:2] == ["taskset", "-c"]
    # Each start is timed from its spawn to its first ready answer (the bench's startup table).
    for name in PROCESSES:
        assert 0 < manifest["processes"][name]["startup_s"] < lab.settings.start_timeout_s, name


def test_switch_restarts_one_framework_with_another_variant(lab: Lab) -> None:
    old_pid = lab.status()[2].pid
    try:
        record = lab.switch("flask", "flask-gthread")
        assert get(f"{lab.settings.service_url('flask')}/readyz").status_code == 200
        manifest = lab.manifest()
        assert manifest is not None
        assert manifest["variants"]["flask"]["worker_class"] == "gthread"
        assert manifest["processes"]["flask"]["pid"] == record.pid != old_pid
        assert not pid_alive(old_pid)
        assert record.startup_s is not None
        assert manifest["processes"]["flask"]["startup_s"] == record.startup_s > 0
    finally:
        lab.switch("flask", lab.settings.variant("flask"))
    assert get(f"{lab.settings.service_url('flask')}/readyz").status_code == 200


def test_switch_refuses_a_variant_of_the_other_framework(lab: Lab) -> None:
    with pytest.raises(LabError, match="not flask"):
        lab.switch("flask", "fastapi-async")
    assert all(row.alive for row in lab.status())


def test_taken_port_is_reported_and_nothing_starts(
    lab_settings_factory: LabSettingsFactory,
) -> None:
    settings = lab_settings_factory()
    with listening(settings.fastapi_port):
        result = cli(settings, "up")
    assert result.returncode == 1
    assert f"port {settings.fastapi_port}" in result.stderr
    assert "ASYNCLAB_FASTAPI_PORT" in result.stderr
    assert "Traceback" not in result.stderr
    assert not settings.pgdata.exists()
    assert processes_mentioning(str(settings.state_dir)) == []


class TakePortOnceStarted:
    """An ``echo`` for Lab that occupies ``port`` when the lab announces ``name``: a port taken
    after the checks, so that the start fails with Postgres and the upstream already running."""

    def __init__(self, settings: LabSettings, name: str, port: int) -> None:
        self.settings, self.name, self.port = settings, name, port
        self.sock: socket.socket | None = None
        self.pids: list[int] = []

    def __call__(self, line: str) -> None:
        if line.startswith(f"starting {self.name}") and self.sock is None:
            self.pids = [r.pid for r in procs.read_pid_files(self.settings)]
            self.sock = socket.create_server((self.settings.host, self.port))

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()


def test_failed_start_stops_what_was_started(lab_settings_factory: LabSettingsFactory) -> None:
    settings = lab_settings_factory()
    taker = TakePortOnceStarted(settings, "flask", settings.flask_port)
    try:
        with pytest.raises(LabError, match=f"port {settings.flask_port}"):
            Lab(settings, echo=taker).up()
    finally:
        taker.close()
    assert len(taker.pids) == 2  # postgres and the upstream were running
    assert_nothing_left(settings, taker.pids)


def test_ctrl_c_during_up_stops_what_was_started(
    lab_settings_factory: LabSettingsFactory,
) -> None:
    settings = lab_settings_factory()
    pids: list[int] = []
    *first, last = SERVICES  # Ctrl-C as the last service starts, the others running

    def press_ctrl_c(line: str) -> None:
        if line.startswith(f"starting {last}"):
            pids.extend(r.pid for r in procs.read_pid_files(settings))
            raise KeyboardInterrupt

    with pytest.raises(LabError, match="interrupted"):
        Lab(settings, echo=press_ctrl_c).up()
    assert len(pids) == 2 + len(first)  # postgres, the upstream and the first services ran
    assert_nothing_left(settings, pids)


def test_down_after_a_crash_stops_what_the_pid_files_name(
    lab_settings_factory: LabSettingsFactory,
) -> None:
    settings = lab_settings_factory()
    lab = Lab(settings)
    postgres_record = postgres.start(settings)
    upstream = procs.start_process(lab._upstream_spec(), settings)
    # A crash before lab.json was written, and even before Postgres' pid file was.
    procs.pid_file(settings, "postgres").unlink()
    assert sorted(lab.down()) == ["postgres", "upstream"]
    assert_nothing_left(settings, [postgres_record.pid, upstream.pid])


def test_down_never_signals_a_process_that_is_not_ours(
    lab_settings_factory: LabSettingsFactory,
) -> None:
    settings = lab_settings_factory()
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        settings.pids_dir.mkdir(parents=True)
        # A pid file left by a crash, whose pid now belongs to someone else (other start time).
        record = ProcessRecord("flask", stranger.pid, 1.0, ["gunicorn"], "flask.log")
        (settings.pids_dir / "flask.pid").write_text(json.dumps(record.to_json()))
        assert Lab(settings).down() == []
        assert Lab(settings).down() == []
        assert pid_alive(stranger.pid)
        assert list(settings.pids_dir.glob("*.pid")) == []
    finally:
        stranger.kill()
        stranger.wait()


def test_process_that_exits_while_starting_is_reported_with_its_log(
    lab_settings_factory: LabSettingsFactory,
) -> None:
    settings = lab_settings_factory()
    spec = ProcessSpec(
        name="broken",
        argv=[sys.executable, "-c", "print('cannot import app'); raise SystemExit(3)"],
        ready_url=f"{settings.service_url('flask')}/readyz",
        port=settings.flask_port,
    )
    with pytest.raises(LabError, match="broken exited while starting") as error:
        procs.start_process(spec, settings)
    assert "cannot import app" in str(error.value)
    assert list(settings.pids_dir.glob("*.pid")) == []


def test_missing_postgres_names_the_package(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="Debian package postgresql"):
        postgres.bindir(path="", debian_root=tmp_path)


@pytest.mark.parametrize(
    ("cpus", "pin", "pinned"),
    [("0", True, "0"), ("0", False, None), ("4096", True, None), (None, True, None)],
)
def test_pinning_only_where_possible(
    lab_settings_factory: LabSettingsFactory, cpus: str | None, pin: bool, pinned: str | None
) -> None:
    settings = lab_settings_factory(pin_cpus=pin)
    if pinned is not None and 0 not in os.sched_getaffinity(0):
        pytest.skip("CPU 0 is not available to this process")
    assert procs.pinning(cpus, settings)[0] == pinned


@pytest.mark.parametrize("command", ["up", "down", "status"])
def test_every_lab_command_has_help_with_an_example(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert f"asynclab {command}" in result.output
