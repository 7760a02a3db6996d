"""The lab's private Postgres cluster: ``initdb`` once, start, load the schema, stop.

The cluster lives in ``settings.pgdata`` and listens on ``settings.host:settings.postgres_port``
only (no Unix socket), so it never meets a system Postgres. Postgres refuses to run as root;
run as root, the lab runs every Postgres program as ``nobody`` through ``setpriv``.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import signal
import stat
import subprocess
from pathlib import Path

import psutil
import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from asynclab.procs import (
    LabError,
    ProcessRecord,
    ProcessSpec,
    log_file,
    log_tail,
    reap_child,
    start_process,
    stop_process,
)
from asynclab.settings import LabSettings

RUN_AS = "nobody"
RUN_AS_GROUP = "nogroup"
BINARIES = ("initdb", "pg_ctl", "postgres")
INSTALL_HINT = "install the Debian package postgresql (apt-get install postgresql)"


def server_settings(settings: LabSettings) -> dict[str, str]:
    """The ``-c`` settings of the lab's postmaster."""
    return {
        "listen_addresses": settings.host,
        "port": str(settings.postgres_port),
        # TCP only: no socket file outside the state dir, no clash with a system Postgres,
        # and no 107-byte limit on socket paths under a deep state dir.
        "unix_socket_directories": "",
        "max_connections": str(settings.postgres_max_connections),
        # fsync stays on, so a crash of the machine cannot corrupt the cluster. Durable commits
        # by default: with synchronous_commit=off a Postgres crash lost every write acknowledged
        # in the last ~125 ms and later handed their ids to other items. `off` is a choice a
        # bench can make (ASYNCLAB_POSTGRES_SYNCHRONOUS_COMMIT), recorded with its results.
        "synchronous_commit": settings.postgres_synchronous_commit,
    }


def bindir(path: str | None = None, debian_root: Path = Path("/usr/lib/postgresql")) -> Path:
    """The directory holding initdb, pg_ctl and postgres of one Postgres version.

    Searched on ``path`` (default: PATH), then in Debian's ``/usr/lib/postgresql/<version>/bin``,
    newest version first.
    """
    on_path = shutil.which("initdb", path=path)
    candidates = [Path(on_path).resolve().parent] if on_path else []
    versions = sorted(
        debian_root.glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for directory in candidates + versions:
        if all((directory / name).is_file() for name in BINARIES):
            return directory
    raise LabError(
        "PostgreSQL server programs (initdb, pg_ctl, postgres) were not found on PATH or in "
        f"/usr/lib/postgresql/*/bin; {INSTALL_HINT}, or run `make install`."
    )


def as_postgres_user() -> list[str]:
    """The argv prefix that drops root to ``nobody``; [] when not root."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        raise LabError(
            "setpriv not found: as root the lab needs it to run Postgres as nobody; "
            "install the Debian package util-linux."
        )
    return ["setpriv", f"--reuid={RUN_AS}", f"--regid={RUN_AS_GROUP}", "--clear-groups"]


def _check_reachable(path: Path) -> None:
    """As root, ``nobody`` must be able to walk down to ``path``: every parent needs o+x, or
    g+x for group nogroup (the state dir: statedir.py)."""
    group = grp.getgrnam(RUN_AS_GROUP).gr_gid
    for parent in reversed(path.parents):
        info = parent.stat()
        if not (
            info.st_mode & stat.S_IXOTH or (info.st_gid == group and info.st_mode & stat.S_IXGRP)
        ):
            raise LabError(
                f"Postgres runs as {RUN_AS}, who cannot enter {parent} (no o+x). "
                f"Run `chmod o+x {parent}`, or set ASYNCLAB_STATE_DIR to a directory "
                f"that other users can reach."
            )


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    for directory, _, files in os.walk(path):
        os.chown(directory, uid, gid)
        for name in files:
            os.chown(os.path.join(directory, name), uid, gid, follow_symlinks=False)


def _prepare_pgdata(settings: LabSettings) -> None:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    settings.pgdata.mkdir(mode=0o700, exist_ok=True)
    if os.geteuid() == 0:
        _check_reachable(settings.pgdata)
        user = pwd.getpwnam(RUN_AS)
        if settings.pgdata.stat().st_uid != user.pw_uid:
            _chown_tree(settings.pgdata, user.pw_uid, user.pw_gid)


def ensure_cluster(settings: LabSettings) -> bool:
    """Run initdb unless ``pgdata`` already holds a cluster; True when it created one.

    An existing cluster keeps the user and password it was created with.
    """
    _prepare_pgdata(settings)
    if (settings.pgdata / "PG_VERSION").exists():
        return False
    pwfile = settings.state_dir / ".pgpass-initdb"
    # Created 0600: a password file must not be readable for an instant (statedir.py).
    with os.fdopen(os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        out.write(settings.postgres_password + "\n")
    try:
        pwfile.chmod(0o600)
        if os.geteuid() == 0:
            user = pwd.getpwnam(RUN_AS)
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        argv = [
            *as_postgres_user(),
            str(bindir() / "initdb"),
            "--pgdata", str(settings.pgdata),
            "--username", settings.postgres_user,
            "--pwfile", str(pwfile),
            "--auth-host", "scram-sha-256",
            "--auth-local", "peer",
            "--encoding", "UTF8",
            "--locale", "C",
        ]  # fmt: skip
        log = log_file(settings, "initdb")
        with log.open("wb") as out:
            result = subprocess.run(
                argv, cwd=settings.state_dir, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, check=False,
            )  # fmt: skip
    finally:
        pwfile.unlink(missing_ok=True)
    if result.returncode != 0:
        raise LabError(f"initdb failed. Last lines of {log}:\n{log_tail(log)}")
    return True


def postgres_spec(settings: LabSettings) -> ProcessSpec:
    options = [arg for k, v in server_settings(settings).items() for arg in ("-c", f"{k}={v}")]
    return ProcessSpec(
        name="postgres",
        argv=[
            *as_postgres_user(),
            str(bindir() / "postgres"),
            "-D",
            str(settings.pgdata),
            *options,
        ],
        cwd=settings.state_dir,
        port=settings.postgres_port,
    )


def connect(
    settings: LabSettings, dbname: str, timeout: float = 2.0
) -> psycopg.Connection[TupleRow]:
    return psycopg.connect(
        host=settings.host,
        port=settings.postgres_port,
        user=settings.postgres_user,
        password=settings.postgres_password,
        dbname=dbname,
        connect_timeout=max(1, round(timeout)),
        autocommit=True,
    )


def accepts_connections(settings: LabSettings) -> bool:
    try:
        with connect(settings, "postgres", timeout=1):
            return True
    except psycopg.OperationalError:
        return False


def display_url(settings: LabSettings) -> str:
    """The DSN without its password, for status tables."""
    return settings.database_url().replace(f":{settings.postgres_password}@", "@", 1)


def start(settings: LabSettings) -> ProcessRecord:
    """Create the cluster if needed, start it and wait until it accepts connections."""
    ensure_cluster(settings)
    return start_process(
        postgres_spec(settings),
        settings,
        ready=lambda: accepts_connections(settings),
        url=display_url(settings),
    )


def load_sql(settings: LabSettings, script: Path) -> None:
    """Create the lab's database if missing, then run ``script`` (which must be idempotent)."""
    try:
        text = script.read_text()
    except OSError as exc:
        raise LabError(f"cannot read the schema {script}: {exc}") from exc
    try:
        with connect(settings, "postgres") as conn:
            found = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [settings.postgres_db]
            ).fetchone()
            if found is None:
                conn.execute(
                    sql.SQL("CREATE DATABASE {}").format(sql.Identifier(settings.postgres_db))
                )
        with connect(settings, settings.postgres_db) as conn:
            # No parameters: psycopg sends the whole file as one simple query, statements and all.
            conn.execute(text.encode())
    except psycopg.Error as exc:
        raise LabError(f"loading {script} into Postgres failed: {exc}") from exc


def postmaster_pid(settings: LabSettings) -> int | None:
    """The pid of a live postmaster serving ``pgdata``, found through its postmaster.pid."""
    try:
        pid = int((settings.pgdata / "postmaster.pid").read_text().split()[0])
        proc = psutil.Process(pid)
        running = proc.status() != psutil.STATUS_ZOMBIE and "postgres" in proc.name()
    except (OSError, ValueError, IndexError, psutil.Error):
        return None
    return pid if running else None


def stop(settings: LabSettings, record: ProcessRecord | None) -> bool:
    """Fast shutdown (rolls back open transactions, no waiting for clients). Idempotent."""
    stopped = False
    if (postmaster := postmaster_pid(settings)) is not None:
        stopped = True
        # A hung pg_ctl must not end `down` with a traceback: the SIGINT below still follows.
        with contextlib.suppress(LabError, subprocess.TimeoutExpired):
            subprocess.run(
                [*as_postgres_user(), str(bindir() / "pg_ctl"), "stop", "-D", str(settings.pgdata),
                 "-m", "fast", "-w", "-t", "30"],
                cwd=settings.state_dir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, check=False, timeout=60,
            )  # fmt: skip
        reap_child(postmaster, timeout=10)
    if record is not None:
        # SIGINT is Postgres' own "fast" shutdown, should pg_ctl have failed.
        stopped = stop_process(record, settings, sig=signal.SIGINT) or stopped
    return stopped
