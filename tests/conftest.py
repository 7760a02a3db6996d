"""Fixtures that start real labs: isolated settings (free ports, a temporary state dir) and a
session-wide running lab that every service test can share."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import LabSettingsFactory, free_ports

from asynclab.lab import Lab
from asynclab.settings import LabSettings

PORT_FIELDS = [name for name in LabSettings.model_fields if name.endswith("_port")]


def make_reachable(path: Path) -> None:
    """Let other users enter ``path``: as root the lab runs Postgres as ``nobody``, and pytest
    makes its temporary directories private (0700)."""
    if os.geteuid() != 0:
        return
    for directory in [path, *path.parents]:
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            directory.chmod(mode | stat.S_IXOTH)


@pytest.fixture(scope="session")
def new_state_dir() -> Iterator[Callable[[], Path]]:
    """Make empty lab state directories that Postgres, run as ``nobody``, can enter.

    They live outside pytest's own temporary tree on purpose: pytest resets
    ``/tmp/pytest-of-<user>`` to 0700 whenever any pytest session starts, which would lock
    ``nobody`` out of a lab in the middle of a run.
    """
    root = Path(tempfile.mkdtemp(prefix="asynclab-tests-"))
    make_reachable(root)

    def make() -> Path:
        state_dir = Path(tempfile.mkdtemp(prefix="lab-", dir=root))
        make_reachable(state_dir)
        return state_dir

    yield make
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def lab_settings_factory(new_state_dir: Callable[[], Path]) -> LabSettingsFactory:
    """Build settings for an isolated lab: its own state dir and a free port for every port.

    ``lab_settings_factory(flask_variant="flask-gthread")`` overrides any field.
    """

    def make(**overrides: Any) -> LabSettings:
        ports = dict(zip(PORT_FIELDS, free_ports(len(PORT_FIELDS)), strict=True))
        return LabSettings(**{"state_dir": new_state_dir(), **ports, **overrides})

    return make


@pytest.fixture(scope="session")
def lab(lab_settings_factory: LabSettingsFactory) -> Iterator[Lab]:
    """A running lab (Postgres, upstream, both services) for the whole session."""
    running = Lab(lab_settings_factory())
    try:
        running.up()
        yield running
    finally:
        running.down()
