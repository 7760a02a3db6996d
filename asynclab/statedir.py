"""The lab's state directory belongs to its owner alone.

``lab.json`` holds the database password (later commands start services with the settings it
records), the logs hold whatever the services print, and the pid files decide which processes
``down`` signals. So the directory is 0700 and the lab's entries in it 0700 (directories) or
0600 (files), whatever umask the user has.

As root, Postgres runs as ``nobody:nogroup`` (``postgres.py``) and must reach ``pgdata`` inside
it: the state dir is then ``root:nogroup`` 0710, which that group may traverse but not list,
while every entry but ``pgdata`` (``nobody``'s, 0700) stays root's alone.
"""

from __future__ import annotations

import contextlib
import grp
import os
from pathlib import Path
from typing import IO

from asynclab.postgres import RUN_AS_GROUP
from asynclab.procs import LabError
from asynclab.settings import LabSettings

# What only a lab's state dir holds: one of them tells it from a directory of the user's.
MARKERS = ("lab.lock", "lab.json", "pids", "pgdata")


def _someone_elses(state: Path) -> bool:
    """Whether ``state`` is a directory with other files and none of a lab's: $HOME or /tmp
    given as ASYNCLAB_STATE_DIR by mistake, whose modes the lab must not change."""
    if not state.is_dir() or any((state / marker).exists() for marker in MARKERS):
        return False
    return any(state.iterdir())


def make_private(settings: LabSettings) -> None:
    """Create the state dir and the directories the lab writes in, each for the owner only."""
    state = settings.state_dir
    if _someone_elses(state):
        raise LabError(
            f"{state} holds files of its own and is no lab's state dir: the lab would make it "
            "and everything in it private. Set ASYNCLAB_STATE_DIR to a new or empty directory"
        )
    try:
        state.mkdir(mode=0o700, parents=True, exist_ok=True)
        if os.geteuid() == 0:
            os.chown(state, -1, grp.getgrnam(RUN_AS_GROUP).gr_gid)
            state.chmod(0o710)
        else:
            state.chmod(0o700)
        for directory in (settings.pids_dir, settings.logs_dir, state / "metrics"):
            directory.mkdir(mode=0o700, exist_ok=True)
        for entry in state.iterdir():
            if entry == settings.pgdata or entry.is_symlink():
                continue
            # Another up or down may replace its temporary files meanwhile (before the lock).
            with contextlib.suppress(FileNotFoundError):
                entry.chmod(0o700 if entry.is_dir() else 0o600)
    except (OSError, KeyError) as exc:
        raise LabError(
            f"cannot make the state dir {state} private to its owner ({exc}); set "
            "ASYNCLAB_STATE_DIR to a directory of your own"
        ) from exc


def open_private(path: Path) -> IO[str]:
    """Open ``path`` for writing (not truncating), created 0600."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w")
