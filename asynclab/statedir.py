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

import grp
import os
from pathlib import Path
from typing import IO

from asynclab.postgres import RUN_AS_GROUP
from asynclab.procs import LabError
from asynclab.settings import LabSettings


def make_private(settings: LabSettings) -> None:
    """Create the state dir and the directories the lab writes in, each for the owner only."""
    state = settings.state_dir
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
            entry.chmod(0o700 if entry.is_dir() else 0o600)
    except (OSError, KeyError) as exc:
        raise LabError(
            f"cannot make the state dir {state} private to its owner ({exc}); set "
            "ASYNCLAB_STATE_DIR to a directory of your own"
        ) from exc


def open_private(path: Path) -> IO[str]:
    """Open ``path`` for writing (not truncating), created 0600."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w")
