"""``manifest.json``: everything needed to read a result set later, on another day or machine.

Python and package versions, git revision, CPU model, the CPU plan, every variant's
configuration and the settings it follows from, how Postgres commits, the profile, and the
generator calibration.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg

from asynclab import postgres
from asynclab.bench.profiles import Profile
from asynclab.bench.scenarios import SCENARIOS
from asynclab.openfiles import raise_soft_limit
from asynclab.procs import cpu_plan
from asynclab.settings import LabSettings
from asynclab.variants import get_variant


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_revision(root: Path) -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    status = git("status", "--porcelain")
    return {
        "revision": git("rev-parse", "HEAD"),
        "dirty": bool(status) if status is not None else None,
    }


def packages() -> dict[str, str]:
    found = {d.metadata["Name"]: d.version for d in importlib.metadata.distributions()}
    return dict(sorted(found.items(), key=lambda kv: kv[0].lower()))


# What decides the cost of a write: whether a commit waits for its WAL flush, and the flush.
POSTGRES_SETTINGS = ("synchronous_commit", "fsync", "wal_sync_method")


def postgres_facts(settings: LabSettings) -> dict[str, Any]:
    """How the lab's Postgres commits, asked of Postgres itself (``SHOW``): the figures of
    /updates and POST /items depend on it, and a setting is only what should have been applied.

    When Postgres does not answer, the configured ``synchronous_commit`` with the reason.
    """
    try:
        with postgres.connect(settings, settings.postgres_db, timeout=5) as conn:
            shown = {
                name: str(row[0])
                for name in POSTGRES_SETTINGS
                if (row := conn.execute(f"SHOW {name}").fetchone()) is not None
            }
    except psycopg.Error as exc:
        return {
            "synchronous_commit": settings.postgres_synchronous_commit,
            "source": f"settings: Postgres did not answer ({str(exc).strip()})",
        }
    return {**shown, "source": "SHOW on the lab's Postgres at the start of the bench"}


def read_int(path: str) -> int | None:
    try:
        return int(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def network_facts() -> dict[str, Any]:
    """What bounds thousands of connections on this machine (its network namespace): the
    kernel's cap on every listen backlog, what it does when one overflows, and this process's
    open-file limits (asynclab/openfiles.py raised the soft one to the hard one)."""
    soft, hard = raise_soft_limit()
    return {
        "somaxconn": read_int("/proc/sys/net/core/somaxconn"),
        "tcp_max_syn_backlog": read_int("/proc/sys/net/ipv4/tcp_max_syn_backlog"),
        "tcp_abort_on_overflow": read_int("/proc/sys/net/ipv4/tcp_abort_on_overflow"),
        "open_files": {"soft": soft, "hard": hard},
    }


def build_manifest(
    settings: LabSettings,
    profile: Profile,
    generator: dict[str, Any],
    lab: dict[str, Any],
    lab_cpu_plan: dict[str, Any] | None = None,
    postgres_settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``lab_cpu_plan`` is the one the lab records (compose has its own); by default the native
    plan that ``settings`` describe. ``postgres_settings``: ``postgres_facts``, asked by
    default."""
    return {
        "version": 1,
        "status": "running",
        "profile": profile.to_json(),
        "python": {
            "version": sys.version.split()[0],
            "implementation": platform.python_implementation(),
        },
        "platform": platform.platform(),
        "cpu": {"model": cpu_model(), "count": os.cpu_count()},
        "git": git_revision(settings.root),
        "cpu_plan": {**(lab_cpu_plan or cpu_plan(settings)), **generator},
        "variants": {name: get_variant(name).config(settings) for name in profile.variants},
        "scenarios": {
            c.scenario: {
                "path": SCENARIOS[c.scenario].path,
                "user_class": SCENARIOS[c.scenario].user_class,
                "locustfile": SCENARIOS[c.scenario].locustfile,
                "bound": SCENARIOS[c.scenario].bound,
                "title": SCENARIOS[c.scenario].title,
                "writes": SCENARIOS[c.scenario].writes,
            }
            for c in profile.cells
        },
        "postgres": postgres_settings or postgres_facts(settings),
        "network": network_facts(),
        "settings": settings.public(),  # results are shared: no password
        "lab": lab,
        "calibration": None,
        "packages": packages(),
    }
