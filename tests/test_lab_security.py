"""What a running lab exposes to other local users and to the network: nothing.

The state dir holds lab.json (with the database password), pid files and logs, all its owner's
alone; as root, Postgres (run as nobody) still reaches its pgdata. Every socket any process of
the lab listens on is bound to loopback.
"""

from __future__ import annotations

import contextlib
import grp
import os
import shutil
import stat
import subprocess
from pathlib import Path

import psutil
import pytest

from asynclab import postgres, statedir
from asynclab.lab import Lab
from asynclab.procs import LabError, group_members
from asynclab.settings import LabSettings

LOOPBACK = {"127.0.0.1", "::1"}


def as_nobody(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*postgres.as_postgres_user(), *argv], capture_output=True, text=True, check=False
    )


def test_the_state_dir_is_the_owners_alone(lab: Lab) -> None:
    state = lab.settings.state_dir
    mode = stat.S_IMODE(state.stat().st_mode)
    if os.geteuid() == 0:
        # Postgres' group may pass through to pgdata, nobody may list it or read what is in it.
        assert mode == 0o710
        assert state.stat().st_gid == grp.getgrnam(postgres.RUN_AS_GROUP).gr_gid
    else:
        assert mode == 0o700
    entries = [entry for entry in state.iterdir() if entry != lab.settings.pgdata]
    assert {e.name for e in entries} >= {"lab.json", "lab.lock", "pids", "logs", "metrics"}
    for entry in entries:
        wanted = 0o700 if entry.is_dir() else 0o600
        assert stat.S_IMODE(entry.lstat().st_mode) == wanted, entry
    assert stat.S_IMODE(lab.settings.pgdata.stat().st_mode) == 0o700


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can act as another user here")
def test_another_user_reads_nothing_yet_postgres_reaches_pgdata(lab: Lab) -> None:
    s = lab.settings
    assert as_nobody("ls", str(s.state_dir)).returncode != 0
    for path in (s.state_dir / "lab.json", s.logs_dir / "flask.log", s.pids_dir / "flask.pid"):
        assert path.exists()
        assert as_nobody("cat", str(path)).returncode != 0, path
    # Postgres runs as nobody: it reaches pgdata through the state dir.
    assert as_nobody("test", "-r", str(s.pgdata / "PG_VERSION")).returncode == 0
    assert postgres.accepts_connections(s)


def lab_pids(lab: Lab) -> set[int]:
    """Every process of the lab: each recorded process and its group (gunicorn's workers,
    Postgres' backends, Locust's workers)."""
    pids: set[int] = set()
    for row in lab.status():
        assert row.alive, row
        pids.add(row.pid)
        pids.update(group_members(row.pid))
        with contextlib.suppress(psutil.NoSuchProcess):
            pids.update(child.pid for child in psutil.Process(row.pid).children(recursive=True))
    return pids


def test_every_process_of_the_lab_listens_on_loopback_only(lab: Lab) -> None:
    listening: dict[int, set[str]] = {}
    for pid in lab_pids(lab):
        with contextlib.suppress(psutil.NoSuchProcess):
            for conn in psutil.Process(pid).net_connections(kind="inet"):
                bound_only = conn.status in (psutil.CONN_LISTEN, psutil.CONN_NONE)
                if bound_only and conn.laddr:
                    listening.setdefault(conn.laddr.port, set()).add(conn.laddr.ip)
    exposed = {port: ips - LOOPBACK for port, ips in listening.items() if ips - LOOPBACK}
    assert exposed == {}, f"listening beyond loopback: {exposed}"
    s = lab.settings
    assert {s.flask_port, s.fastapi_port, s.upstream_port, s.postgres_port} <= set(listening)
    started = {row.name for row in lab.status()}
    for name, port in [
        ("prometheus", s.prometheus_port),
        ("postgres-exporter", s.postgres_exporter_port),
        ("node-exporter", s.node_exporter_port),
        ("locust", s.locust_port),
    ]:
        if name in started:
            assert port in listening, name
    if shutil.which("prometheus"):
        assert "prometheus" in started


def test_no_process_of_the_lab_has_the_password_on_its_command_line(lab: Lab) -> None:
    password = lab.settings.postgres_password
    dsn = f":{password}@"
    for pid in lab_pids(lab):
        with contextlib.suppress(psutil.NoSuchProcess):
            assert dsn not in " ".join(psutil.Process(pid).cmdline()), pid


def test_the_manifest_shows_no_password(lab: Lab) -> None:
    manifest = lab.manifest()
    assert manifest is not None
    dsn = f":{lab.settings.postgres_password}@"
    assert dsn not in str(manifest["urls"]) + str(manifest["postgres"])
    assert Path(manifest["state_dir"]) == lab.settings.state_dir


def test_a_directory_of_the_users_is_refused_as_state_dir_and_left_as_it_was(
    tmp_path: Path,
) -> None:
    """ASYNCLAB_STATE_DIR=$HOME (or /tmp) by mistake: the lab must not make it private."""
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    (home / "notes.txt").write_text("mine")
    (home / "notes.txt").chmod(0o644)
    settings = LabSettings(state_dir=home)
    with pytest.raises(LabError, match="no lab's state dir") as refused:
        statedir.make_private(settings)
    assert "ASYNCLAB_STATE_DIR" in str(refused.value)
    assert stat.S_IMODE(home.stat().st_mode) == 0o755
    assert stat.S_IMODE((home / "notes.txt").stat().st_mode) == 0o644
    # A new or empty directory, or a lab's own, is taken.
    for fresh in (tmp_path / "new", tmp_path / "empty"):
        if fresh.name == "empty":
            fresh.mkdir()
        statedir.make_private(LabSettings(state_dir=fresh))
        assert (fresh / "pids").is_dir()
        statedir.make_private(LabSettings(state_dir=fresh))
