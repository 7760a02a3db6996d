"""A result set on disk: ``results/<timestamp>/`` with ``manifest.json``, ``summary.json``, one
directory per run, and ``results/latest`` pointing at the newest complete set.

Every write goes to a temporary file first and is renamed into place, so a reader (or a bench
killed half-way) only ever sees a whole file. ``status`` says whether the set is complete.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Any, Literal

from asynclab.files import write_atomic

Status = Literal["running", "complete", "interrupted", "failed"]

SUMMARY = "summary.json"
MANIFEST = "manifest.json"
LATEST = "latest"
SCHEMA_VERSION = 1


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def new_set_dir(results_dir: Path) -> Path:
    """A fresh ``results/<timestamp>`` directory (a suffix keeps two sets in a second apart)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    for n in range(100):
        candidate = results_dir / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise RuntimeError(f"could not create a result directory in {results_dir}")


def point_latest(set_dir: Path) -> None:
    """Make ``<results>/latest`` a relative symlink to ``set_dir``, replaced atomically.

    The bench calls it when a set completes, so that ``latest`` never names a set still
    running or cut short (those are reported by their own path).
    """
    link = set_dir.parent / LATEST
    tmp = set_dir.parent / f".{LATEST}.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(set_dir.name)
    os.replace(tmp, link)


def resolve_set(path: Path) -> Path:
    """A set directory given itself, ``results/latest`` or the results directory."""
    if (path / SUMMARY).exists():
        return path.resolve()
    if (path / LATEST / SUMMARY).exists():
        return (path / LATEST).resolve()
    raise FileNotFoundError(f"no {SUMMARY} in {path} or {path / LATEST}")


class Summary:
    """``summary.json``: the rows so far and whether the set is complete."""

    def __init__(self, set_dir: Path, profile: str, planned: int) -> None:
        self.path = set_dir / SUMMARY
        self.data: dict[str, Any] = {
            "version": SCHEMA_VERSION,
            "profile": profile,
            "status": "running",
            "complete": False,
            "started_at": now_iso(),
            "finished_at": None,
            "planned_runs": planned,
            "rows": [],
            "errors": [],
        }
        self.save()

    @property
    def rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.data["rows"]
        return rows

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.save()

    def error(self, run: str, message: str) -> None:
        self.data["errors"].append({"run": run, "error": message})
        self.save()

    def finish(self, status: Status) -> None:
        self.data["status"] = status
        self.data["complete"] = status == "complete"
        self.data["finished_at"] = now_iso()
        self.save()

    def save(self) -> None:
        write_json(self.path, self.data)
